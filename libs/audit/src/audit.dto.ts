import { z } from 'zod';
import type { Actor, ClientInfo } from '@ibhq/core';

/** `member.invited`, `api_key.created`: lower-case words joined by dots, at least two. */
export const AUDIT_ACTION = /^[a-z_]+(\.[a-z_]+)+$/;
export const AUDIT_ACTION_MAX = 64;
/** Largest metadata accepted, as serialised JSON in UTF-8 bytes. */
export const AUDIT_METADATA_MAX_BYTES = 8 * 1024;

export const AUDIT_ACTOR_TYPES = ['user', 'api_key', 'staff', 'system', 'anonymous'] as const;
export type AuditActorType = (typeof AUDIT_ACTOR_TYPES)[number];

/** What a caller records. Actor and client default to those of the current context. */
export interface AuditEntry {
  /** `<subject>.<verb>`, e.g. `member.removed` (see AUDIT_ACTION). */
  readonly action: string;
  /** What the action was done to, e.g. `membership` (at most 32 characters). */
  readonly targetType?: string;
  /** Its id (at most 64 characters); needs `targetType`. */
  readonly targetId?: string;
  /**
   * Ids and facts, never secrets or personal data: keys that look like either are
   * redacted before the event is hashed and stored. At most 8 KiB as JSON.
   */
  readonly metadata?: Record<string, unknown>;
  readonly actor?: Actor;
  readonly client?: ClientInfo;
}

export interface AuditEventView {
  readonly seq: number;
  readonly occurredAt: Date;
  readonly actor: { readonly type: AuditActorType; readonly id: string | null };
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string | null } | null;
  readonly metadata: Record<string, unknown>;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly hash: string;
  readonly prevHash: string;
}

export type AuditVerifyResult =
  | { readonly ok: true; readonly events: number; readonly headSeq: number }
  | {
      readonly ok: false;
      /** Events found intact before the broken link. */
      readonly events: number;
      readonly brokenAt: {
        readonly seq: number;
        readonly reason: 'hash_mismatch' | 'prev_hash_mismatch' | 'seq_gap' | 'head_mismatch';
      };
    };

const isoTime = z.iso
  .datetime({ offset: true, message: 'must be an ISO 8601 time, e.g. 2026-01-31T00:00:00Z' })
  .transform((s) => new Date(s));

/** The filters shared by listing and export. */
const filterShape = {
  actorType: z.enum(AUDIT_ACTOR_TYPES).optional(),
  actorId: z.string().min(1).max(64).optional(),
  /** An exact action, or a prefix ending in `.*` (`member.*`). */
  action: z
    .string()
    .max(AUDIT_ACTION_MAX)
    .regex(
      /^[a-z_]+(\.[a-z_]+)*\.([a-z_]+|\*)$/,
      'must be an action such as member.invited, or a prefix such as member.*',
    )
    .optional(),
  /** Events at or after this time. */
  from: isoTime.optional(),
  /** Events strictly before this time. */
  to: isoTime.optional(),
};

function checkRange(
  value: { from?: Date | undefined; to?: Date | undefined },
  ctx: z.RefinementCtx,
) {
  if (value.from && value.to && value.to <= value.from) {
    ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be later than from' });
  }
}

export const auditListQuery = z
  .strictObject({
    ...filterShape,
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().min(1).max(512).optional(),
  })
  .superRefine(checkRange);
export type AuditListQuery = z.output<typeof auditListQuery>;

export const auditExportQuery = z
  .strictObject({ ...filterShape, format: z.enum(['csv', 'json']) })
  .superRefine(checkRange);
export type AuditExportQuery = z.output<typeof auditExportQuery>;

/** The filters alone (what `export` takes besides the format). */
export type AuditFilter = Pick<AuditListQuery, 'actorType' | 'actorId' | 'action' | 'from' | 'to'>;

export type AuditExportFormat = AuditExportQuery['format'];
