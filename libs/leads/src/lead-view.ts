import { Prisma, type $Enums } from '@ibhq/db';

export const LEAD_SOURCES = [
  'telegram_dm',
  'telegram_group',
  'telegram_channel',
  'api',
  'import',
  'manual',
] as const satisfies readonly $Enums.LeadSource[];
export type LeadSource = (typeof LEAD_SOURCES)[number];

/**
 * A lead's profile: the plain fields that writes, imports, exports and merges each carry
 * (in this order; each list adds its own after them).
 */
export const LEAD_PROFILE_FIELDS = [
  'displayName',
  'telegramUserId',
  'telegramUsername',
  'phone',
  'email',
  'language',
  'country',
] as const;

/** A lead's stored fields as the services read them back (identities normalised, ids as text). */
export interface StoredLead {
  readonly id: string;
  readonly displayName: string;
  readonly telegramUserId: string | null;
  readonly telegramUsername: string | null;
  readonly phone: string | null;
  readonly phoneNational: string | null;
  readonly email: string | null;
  readonly emailLocal: string | null;
  readonly language: string | null;
  readonly country: string | null;
  readonly source: LeadSource;
  readonly ownerId: string | null;
  readonly stageId: string;
  readonly customFields: Readonly<Record<string, unknown>>;
}

/** A lead as every endpoint (get, list, export) shows it. */
export interface LeadView {
  readonly id: string;
  readonly displayName: string;
  /** Decimal string: Telegram ids are 64-bit. */
  readonly telegramUserId: string | null;
  readonly telegramUsername: string | null;
  readonly phone: string | null;
  readonly email: string | null;
  readonly language: string | null;
  readonly country: string | null;
  readonly source: LeadSource;
  readonly sourceDetails: Record<string, unknown>;
  readonly ownerId: string | null;
  readonly stageId: string;
  readonly stageName: string;
  readonly stageChangedAt: Date;
  /** Tag names, sorted. */
  readonly tags: readonly string[];
  /** Values by custom field key. */
  readonly customFields: Record<string, unknown>;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * The columns of a LeadView, for raw SQL over `"Lead" l` (joined to nothing else):
 * `SELECT ${LEAD_VIEW_COLUMNS} FROM "Lead" l WHERE ...`. Rows come back in
 * LeadView's shape (tags aggregated, stage name looked up), so one definition serves
 * get, list and export.
 */
export const LEAD_VIEW_COLUMNS = Prisma.raw(`l."id", l."displayName",
  l."telegramUserId"::text AS "telegramUserId", l."telegramUsername"::text AS "telegramUsername",
  l."phone", l."email", l."language", l."country", l."source"::text AS "source", l."sourceDetails",
  l."ownerId", l."stageId",
  (SELECT s."name"::text FROM "Stage" s WHERE s."tenantId" = l."tenantId" AND s."id" = l."stageId") AS "stageName",
  l."stageChangedAt",
  COALESCE((SELECT array_agg(t."name"::text ORDER BY t."name")
              FROM "LeadTag" lt JOIN "Tag" t ON t."tenantId" = lt."tenantId" AND t."id" = lt."tagId"
             WHERE lt."tenantId" = l."tenantId" AND lt."leadId" = l."id"), '{}') AS "tags",
  l."customFields", l."version", l."createdAt", l."updatedAt"`);
