export { chainHash, GENESIS_HASH, type ChainedFields } from './audit-hash.js';
export {
  AUDIT_ACTION,
  AUDIT_ACTION_MAX,
  AUDIT_ACTOR_TYPES,
  AUDIT_METADATA_MAX_BYTES,
  auditExportQuery,
  auditListQuery,
  type AuditActorType,
  type AuditEntry,
  type AuditEventView,
  type AuditExportFormat,
  type AuditExportQuery,
  type AuditFilter,
  type AuditListQuery,
  type AuditVerifyResult,
} from './audit.dto.js';
export { AuditModule } from './audit.module.js';
export { AUDIT_BATCH_SIZE, AuditService, type AuditListOptions } from './audit.service.js';
