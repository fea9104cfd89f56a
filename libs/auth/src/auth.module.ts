import { Module } from '@nestjs/common';
import { CryptoModule } from '@ibhq/crypto';
import { DatabaseModule, PlatformDbModule } from '@ibhq/db';
import { RedisModule } from '@ibhq/redis';
import { ApiKeyService } from './api-keys.js';
import { PasswordService } from './passwords.js';
import { RATE_LIMIT_OVERRIDES, RateLimits } from './rate-limits.js';
import { SessionStore } from './sessions.js';
import { TelegramLoginVerifier } from './telegram-login.js';
import { TotpService } from './totp.js';

/**
 * Authentication primitives: passwords, sessions, TOTP, Telegram sign-in, rate limits
 * and API keys. AppConfig and Clock come from the global CoreModule. Tests replace
 * the rate limits with `.overrideProvider(RATE_LIMIT_OVERRIDES).useValue({...})`.
 */
const SERVICES = [
  PasswordService,
  TotpService,
  TelegramLoginVerifier,
  RateLimits,
  ApiKeyService,
  SessionStore,
];

@Module({
  imports: [DatabaseModule, PlatformDbModule, RedisModule, CryptoModule],
  providers: [{ provide: RATE_LIMIT_OVERRIDES, useValue: {} }, ...SERVICES],
  exports: [RATE_LIMIT_OVERRIDES, ...SERVICES],
})
export class AuthModule {}
