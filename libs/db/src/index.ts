export { isDatabaseUnavailable, translateDatabaseError } from './client/database-errors.js';
export { DatabaseHealth } from './client/database-health.js';
export {
  PLATFORM_MODELS,
  TENANT_MODELS,
  type PlatformModel,
  type PlatformTx,
  type TenantModel,
  type TenantTx,
} from './client/models.js';
export { PlatformDb } from './client/platform-db.js';
export { TenantDb, type ScopedQuery, type TenantTransactionOptions } from './client/tenant-db.js';
export { DatabaseModule, PlatformDbModule } from './database.module.js';
export { $Enums, Prisma } from './generated/prisma/client.js';
export type {
  ApiKey,
  AuditEvent,
  Invitation,
  Lead,
  LeadActivity,
  Membership,
  OutboxEmail,
  Tenant,
  User,
} from './generated/prisma/client.js';
export {
  APP_ROLE,
  applyMigrations,
  configureAppRole,
  diffDatabaseToSchema,
  diffMigrationsToSchema,
  migrationStatus,
  readMigrationList,
  type PrismaLayout,
} from './migrations/migrator.js';
export { passwordSql, scramSha256Verifier } from './migrations/scram.js';
export { setupDatabase, type SetupResult } from './migrations/setup.js';
