export { AppConfig, ConfigError, loadConfigOrExit } from './config/app-config.js';
export { configSchema, configVariableNames, type ConfigEnv } from './config/config.schema.js';
export {
  type Actor,
  type ClientInfo,
  PLATFORM_TENANT_ID,
  type TenantContext,
  type TenantId,
  asTenantId,
  currentTenant,
  currentTenantOrUndefined,
  isUuid,
  runWithTenant,
} from './context/tenant-context.js';
export {
  DomainError,
  ErrorCode,
  type FieldProblem,
  NotFoundError,
  TenantContextMissingError,
  ValidationError,
} from './errors/domain-error.js';
export { logSerializers, loggerOptions } from './logging/logger-options.js';
export { NestPinoLogger } from './logging/nest-logger.js';
export { REDACTED, isSensitiveKey, redactDeep, scrubString } from './logging/redact.js';
export { Clock } from './time/clock.js';
export { CoreModule, PINO_LOGGER } from './core.module.js';
export { decodeCursor, encodeCursor, type Page } from './pagination/cursor.js';
