import { z } from 'zod';
import { DomainError, ErrorCode, ValidationError } from '@ibhq/core';
import { Prisma, type TenantDb } from '@ibhq/db';
import {
  countryField,
  emailField,
  languageField,
  phoneTextField,
  telegramUserIdField,
  usernameField,
} from './identity.js';
import { LEAD_SOURCES } from './lead-view.js';

/**
 * What a caller may write on a lead (POST, PUT by-identity, PATCH), as strict zod
 * schemas built on the identity fields of identity.ts. The phone is normalised by
 * LeadsService (its default country is the lead's country, known only there).
 */

// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** No control character (names, labels, options: single-line text). */
export const noControlCharacters = (s: string): boolean => !CONTROL_CHARACTER.test(s);

/** Longest tag name. */
export const TAG_NAME_MAX = 50;

/** Lone UTF-16 surrogates (invalid Unicode: PostgreSQL would store U+FFFD). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Text PostgreSQL can store as given: no NUL, no lone surrogate. */
export function storableText<T extends z.ZodType<string>>(base: T) {
  return base
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters')
    .refine((s) => !LONE_SURROGATE.test(s), 'must be valid Unicode text');
}

export const displayNameField = storableText(z.string().trim().min(1).max(200));

/** Where the lead came from: the chat and message (Telegram) or anything with a link. */
export const sourceDetailsField = z.strictObject({
  /** A Telegram chat id (64-bit, negative for groups and channels): stored as a string. */
  chatId: z
    .union([
      z
        .string()
        .trim()
        .regex(/^-?[0-9]{1,20}$/, 'must be a chat id'),
      z.int(),
    ])
    .transform(String)
    .optional(),
  chatTitle: storableText(z.string().trim().min(1).max(200)).optional(),
  messageId: z.int().min(1).optional(),
  messageLink: storableText(
    z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2_000),
  ).optional(),
});
export type SourceDetails = z.infer<typeof sourceDetailsField>;

export const tagsField = z
  .array(storableText(z.string().trim().min(1).max(TAG_NAME_MAX)))
  .max(100, 'at most 100 tags');

/** Values by custom field key; validated against the definitions by the service. */
export const customFieldsField = z
  .record(z.string().min(1).max(200), z.unknown())
  .refine((r) => Object.keys(r).length <= 100, 'at most 100 custom fields');

/** The fields of a new lead (POST /v1/leads, PUT /v1/leads/by-identity). */
export const createLeadBody = z.strictObject({
  displayName: displayNameField,
  telegramUserId: telegramUserIdField.optional(),
  telegramUsername: usernameField.optional(),
  phone: phoneTextField.optional(),
  email: emailField.optional(),
  language: languageField.optional(),
  country: countryField.optional(),
  source: z.enum(LEAD_SOURCES).optional(),
  sourceDetails: sourceDetailsField.optional(),
  ownerId: z.uuid().optional(),
  stageId: z.uuid().optional(),
  tags: tagsField.optional(),
  customFields: customFieldsField.optional(),
});
export type CreateLeadBody = z.infer<typeof createLeadBody>;

/**
 * A partial update (PATCH /v1/leads/:id): only the given fields change; null clears
 * an optional one (tags: null is no tag); customFields merges key by key (null
 * removes a value). `version` is the optimistic-concurrency check (like If-Match).
 */
export const patchLeadBody = z.strictObject({
  displayName: displayNameField.optional(),
  telegramUserId: telegramUserIdField.nullable().optional(),
  telegramUsername: usernameField.nullable().optional(),
  phone: phoneTextField.nullable().optional(),
  email: emailField.nullable().optional(),
  language: languageField.nullable().optional(),
  country: countryField.nullable().optional(),
  source: z.enum(LEAD_SOURCES).optional(),
  sourceDetails: sourceDetailsField.nullable().optional(),
  ownerId: z.uuid().nullable().optional(),
  stageId: z.uuid().optional(),
  tags: tagsField.nullable().optional(),
  customFields: customFieldsField.optional(),
  version: z.int().min(1).optional(),
});
export type PatchLeadBody = z.infer<typeof patchLeadBody>;

/** `?onConflict=merge` on POST /v1/leads. */
export const createLeadQuery = z.strictObject({
  onConflict: z.enum(['error', 'merge']).default('error'),
});
export type CreateLeadQuery = z.infer<typeof createLeadQuery>;

/** The identities that are unique per tenant, in the order conflicts are reported. */
export const IDENTITIES = ['telegramUserId', 'telegramUsername', 'phone', 'email'] as const;
export type Identity = (typeof IDENTITIES)[number];

/** Identity values as stored (normalised): null or absent is no identity. */
export type IdentityValues = Partial<Record<Identity, string | null>>;

/**
 * `If-Match: "3"` / `W/"3"` / `"2", "3"` / `*`: the versions the caller accepts
 * (undefined: any). A malformed header is a 400 naming it.
 */
export function versionsFromIfMatch(header: string | undefined): number[] | undefined {
  if (header === undefined || header.trim() === '' || header.trim() === '*') return undefined;
  const versions: number[] = [];
  for (const part of header.split(',')) {
    const match = /^\s*(?:W\/)?"([0-9]{1,9})"\s*$/.exec(part);
    if (!match?.[1]) {
      throw new ValidationError([
        { field: 'headers.if-match', message: 'must be a version ETag like "3" (or W/"3")' },
      ]);
    }
    versions.push(Number(match[1]));
  }
  return versions;
}

/**
 * A lead id as it stands: the live lead, the survivor a merged lead redirects to
 * (following chains), or null when there is no such lead in the tenant. Row-level
 * security hides other tenants' leads (and, for agents who see only their own,
 * other owners' leads) exactly like missing ones.
 */
export async function resolveLead(
  db: TenantDb,
  tenantId: string,
  id: string,
): Promise<{ id: string; survivorId: string | null } | null> {
  const rows = await db.query<{
    id: string;
    mergedIntoId: string | null;
    survivorId: string | null;
  }>(
    Prisma.sql`
      WITH RECURSIVE chain AS (
        SELECT l."id", l."mergedIntoId", 0 AS depth FROM "Lead" l
         WHERE l."tenantId" = ${tenantId}::uuid AND l."id" = ${id}::uuid
        UNION ALL
        SELECT n."id", n."mergedIntoId", c.depth + 1 FROM chain c
          JOIN "Lead" n ON n."tenantId" = ${tenantId}::uuid AND n."id" = c."mergedIntoId"
         WHERE c.depth < 20
      )
      SELECT (SELECT "id" FROM chain WHERE depth = 0) AS "id",
             (SELECT "mergedIntoId" FROM chain WHERE depth = 0) AS "mergedIntoId",
             (SELECT "id" FROM chain WHERE "mergedIntoId" IS NULL ORDER BY depth LIMIT 1) AS "survivorId"`,
  );
  const row = rows[0];
  if (!row?.id) return null;
  if (row.mergedIntoId === null) return { id: row.id, survivorId: null };
  // A survivor the caller may not see (or a broken chain) is no lead for them.
  return row.survivorId ? { id: row.id, survivorId: row.survivorId } : null;
}

/**
 * Writes `sets` (SET clauses of values only) to each lead of `setsById`, locking and
 * addressing it through a cursor (`WHERE CURRENT OF`), in the caller's transaction;
 * answers the ids written (those the caller may see). This is how an agent who sees
 * only their own leads hands leads over to another member: row-level security allows
 * it (own_leads_only: USING the agent's own rows, WITH CHECK true), but PostgreSQL also
 * checks the new row against the SELECT policies when an UPDATE reads columns of the
 * table, and a handed-over row is no longer visible to the agent. `WHERE CURRENT OF`
 * reads no column. Row by row: such agents hold few leads.
 */
export async function handOverLeads(
  db: TenantDb,
  tenantId: string,
  setsById: ReadonlyMap<string, readonly Prisma.Sql[]>,
): Promise<string[]> {
  await db.query(Prisma.sql`DECLARE lead_hand_over NO SCROLL CURSOR FOR
    SELECT "id"::text AS "id" FROM "Lead"
     WHERE "tenantId" = ${tenantId}::uuid AND "id" = ANY(${[...setsById.keys()]}::uuid[])
     ORDER BY "id" FOR UPDATE`);
  const written: string[] = [];
  for (;;) {
    const [current] = await db.query<{ id: string }>(Prisma.sql`FETCH NEXT FROM lead_hand_over`);
    if (!current) break;
    const sets = setsById.get(current.id);
    if (!sets) continue;
    await db.query(Prisma.sql`UPDATE "Lead" SET ${Prisma.join([...sets], ', ')}
                               WHERE CURRENT OF lead_hand_over`);
    written.push(current.id);
  }
  await db.query(Prisma.sql`CLOSE lead_hand_over`);
  return written;
}

/**
 * The PostgreSQL error behind a failed statement (SQLSTATE and constraint), from
 * node-postgres (TenantDb's raw path) or Prisma (inside a transaction); null for
 * anything else.
 */
export function databaseErrorOf(e: unknown): { code: string; constraint: string | null } | null {
  if (e instanceof Prisma.PrismaClientKnownRequestError) {
    const cause = (e.meta?.driverAdapterError as { cause?: Record<string, unknown> } | undefined)
      ?.cause;
    const code = cause?.originalCode;
    const index = (cause?.constraint as { index?: unknown } | undefined)?.index;
    if (typeof code !== 'string') return null;
    return { code, constraint: typeof index === 'string' ? index : null };
  }
  if (!(e instanceof Error)) return null;
  const { code, constraint } = e as { code?: unknown; constraint?: unknown };
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return null;
  return { code, constraint: typeof constraint === 'string' ? constraint : null };
}

/** The identity a unique violation on "Lead" is about (from its index name). */
export function identityOfConstraint(constraint: string | null): Identity | null {
  const match = /^Lead_tenantId_(\w+)_key$/.exec(constraint ?? '');
  const found = IDENTITIES.find((i) => i === match?.[1]);
  return found ?? null;
}

/** The 410 of a write to a merged lead's old id (reads redirect to the survivor instead). */
export function leadMergedError(survivorId: string): DomainError {
  return new DomainError(
    ErrorCode.Gone,
    `this lead was merged into ${survivorId}: use that lead instead`,
    { reason: 'MERGED', survivorId },
  );
}
