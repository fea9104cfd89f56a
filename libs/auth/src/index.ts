export {
  API_KEY_SCOPES,
  MEMBER_ROLES,
  PERMISSIONS,
  ROLE_PERMISSIONS,
  roleAllows,
  type ApiKeyScope,
  type MemberRole,
  type Permission,
  type Role,
} from './permissions.js';
export {
  hashToken,
  sessionActor,
  SessionStore,
  type NewSession,
  type Session,
} from './sessions.js';
export { PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARACTERS, PasswordService } from './passwords.js';
export { TotpService } from './totp.js';
export { findRecoveryCode, generateRecoveryCodes, hashRecoveryCode } from './recovery-codes.js';
export {
  signTelegramLogin,
  TelegramLoginVerifier,
  telegramLoginBody,
  type TelegramIdentity,
  type TelegramLoginBody,
} from './telegram-login.js';
export {
  RATE_LIMIT_OVERRIDES,
  RATE_LIMITS,
  RateLimits,
  apiKeyState,
  type ApiKeyCount,
  type RateLimit,
  type RateLimitBucket,
  type RateLimitOverrides,
  type RateLimitState,
} from './rate-limits.js';
export {
  ApiKeyService,
  createApiKeyBody,
  hashApiKey,
  type ApiKeyView,
  type AuthenticatedApiKey,
  type CreateApiKeyBody,
} from './api-keys.js';
export { AuthModule } from './auth.module.js';
