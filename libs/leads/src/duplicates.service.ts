import { Injectable } from '@nestjs/common';
import { AuditService } from '@ibhq/audit';
import {
  currentTenant,
  decodeCursor,
  encodeCursor,
  NotFoundError,
  ValidationError,
  type Page,
} from '@ibhq/core';
import { Prisma, TenantDb } from '@ibhq/db';
import {
  dismissDuplicateBody,
  DUPLICATE_REASONS,
  duplicatesQuery,
  type DismissDuplicateBody,
  type DuplicatePair,
  type DuplicateReason,
  type DuplicatesQuery,
} from './duplicates.dto.js';
import { leadMergedError, resolveLead } from './lead-input.js';
import { LEAD_VIEW_COLUMNS, type LeadView } from './lead-view.js';

/**
 * Lowest trigram similarity of two lower-cased display names for a pair to be
 * proposed (pg_trgm's own default threshold). Every candidate needs it AND a partial
 * match: a similar name alone is far too common to mean the same person.
 */
export const NAME_SIMILARITY_MIN = 0.3;

/**
 * A blocking key shared by more live leads than this (one national number under many
 * country codes, an e-mail local part like `info`, "Unknown" in one country) is a
 * placeholder, not a person: its leads are not proposed as pairs, which also bounds
 * the pairs one key can produce (n^2 / 2).
 */
export const MAX_KEY_GROUP = 20;

/**
 * How much each partial match says on its own (0..1). The score combines them as
 * independent evidence (1 - product of (1 - weight)) and blends in the name
 * similarity: score = 0.4 * similarity + 0.6 * evidence, rounded to 4 places.
 */
const WEIGHTS: Record<Exclude<DuplicateReason, 'similar_name'>, number> = {
  same_national_phone: 0.8,
  email_matches_username: 0.7,
  same_name_and_country: 0.5,
};

interface PairRow {
  readonly x: string;
  readonly y: string;
  readonly reasons: string[];
  readonly score: number;
}

const live = (alias: string) => Prisma.raw(`${alias}."mergedIntoId" IS NULL`);

/** At most MAX_KEY_GROUP leads `c` match `where` (counting stops after one more). */
const smallGroup = (t: Prisma.Sql, where: Prisma.Sql) => Prisma.sql`(
  SELECT count(*) FROM (SELECT 1 FROM "Lead" c WHERE c."tenantId" = ${t} AND ${where}
                        LIMIT ${MAX_KEY_GROUP + 1}) s) <= ${MAX_KEY_GROUP}`;

/**
 * Likely duplicates: the same person under different identities (exact identities
 * are unique, so these are never equal). A pair is two live leads with a similar name
 * and at least one partial match, found by blocking on equi-join keys that are
 * indexed (national phone digits, e-mail local part against the username, lower-case
 * name with country), never by comparing every lead with every other.
 */
@Injectable()
export class DuplicatesService {
  /** The request schemas (duplicates.dto.ts), reachable through the library's public entry. */
  static readonly dto = { duplicatesQuery, dismissDuplicateBody } as const;

  constructor(
    private readonly db: TenantDb,
    private readonly audit: AuditService,
  ) {}

  /** Every candidate pair of the tenant, best first. */
  async list(query: DuplicatesQuery): Promise<Page<DuplicatePair>> {
    const { tenantId } = currentTenant();
    const t = Prisma.sql`${tenantId}::uuid`;
    // Keys first (index-only scans of the key indexes: only keys that several leads
    // share come out), then each key's leads by index lookups (OFFSET 0 keeps each
    // lookup a nested loop however many keys the planner expects), then pairs within
    // each key. The work grows with the leads that share a key, never with the square
    // of the tenant.
    const members = (keys: string, match: Prisma.Sql, extra = Prisma.empty) => Prisma.sql`
      SELECT k.*, m.* FROM ${Prisma.raw(keys)} k
       CROSS JOIN LATERAL (
         SELECT l."id", l."displayName" AS dn ${extra} FROM "Lead" l
          WHERE l."tenantId" = ${t} AND ${match} AND ${live('l')} OFFSET 0) m`;
    const sources = Prisma.sql`
      phone_keys AS (
        SELECT "phoneNational" AS k FROM "Lead"
         WHERE "tenantId" = ${t} AND "phoneNational" IS NOT NULL
         GROUP BY "phoneNational" HAVING count(*) BETWEEN 2 AND ${MAX_KEY_GROUP}
      ),
      phone_members AS (${members('phone_keys', Prisma.sql`l."phoneNational" = k.k`)}),
      email_matches AS MATERIALIZED (
        SELECT u."telegramUsername" AS k FROM "Lead" u
         WHERE u."tenantId" = ${t} AND u."telegramUsername" IS NOT NULL
           AND EXISTS (SELECT 1 FROM "Lead" e
                        WHERE e."tenantId" = ${t} AND e."emailLocal" = u."telegramUsername")
      ),
      email_keys AS (
        SELECT m.k FROM email_matches m
         WHERE ${smallGroup(t, Prisma.sql`c."emailLocal" = m.k`)}
      ),
      email_members AS (
        ${members(
          'email_keys',
          Prisma.sql`(l."telegramUsername" = k.k OR l."emailLocal" = k.k)`,
          Prisma.sql`, l."telegramUsername" = k.k AS "isUser", l."emailLocal" = k.k AS "isEmail"`,
        )}
      ),
      name_keys AS (
        SELECT lower("displayName") AS name, "country" FROM "Lead"
         WHERE "tenantId" = ${t} AND "country" IS NOT NULL AND "mergedIntoId" IS NULL
         GROUP BY lower("displayName"), "country" HAVING count(*) BETWEEN 2 AND ${MAX_KEY_GROUP}
      ),
      name_members AS (
        ${members('name_keys', Prisma.sql`lower(l."displayName") = k.name AND l."country" = k."country"`)}
      ),
      pairs AS (
        SELECT a."id" AS x, b."id" AS y, a.dn AS xn, b.dn AS yn, 'same_national_phone' AS reason
          FROM phone_members a JOIN phone_members b ON b.k = a.k AND b."id" > a."id"
        UNION ALL
        SELECT LEAST(a."id", b."id"), GREATEST(a."id", b."id"),
               CASE WHEN a."id" < b."id" THEN a.dn ELSE b.dn END,
               CASE WHEN a."id" < b."id" THEN b.dn ELSE a.dn END,
               'email_matches_username'
          FROM email_members a JOIN email_members b ON b.k = a.k AND b."id" <> a."id"
         WHERE a."isEmail" AND b."isUser"
        UNION ALL
        SELECT a."id", b."id", a.dn, b.dn, 'same_name_and_country'
          FROM name_members a
          JOIN name_members b ON b.name = a.name AND b."country" = a."country" AND b."id" > a."id"
      )`;
    return this.page(sources, query);
  }

  /** The candidates of one live lead (the lead first in each pair). */
  async forLead(leadId: string, query: DuplicatesQuery): Promise<Page<DuplicatePair>> {
    const { tenantId } = currentTenant();
    const t = Prisma.sql`${tenantId}::uuid`;
    const lead = await resolveLead(this.db, tenantId, leadId);
    if (!lead) throw new NotFoundError('lead');
    if (lead.survivorId) throw leadMergedError(lead.survivorId);
    // The same keys and group limits as `list`, looked up from one lead: its
    // candidates are exactly the pairs of the full list that contain it.
    const small = (where: Prisma.Sql) => smallGroup(t, where);
    const sources = Prisma.sql`
      f AS (
        SELECT "id", "displayName", "phoneNational", "emailLocal", "telegramUsername",
               lower("displayName") AS name, "country"
          FROM "Lead" WHERE "tenantId" = ${t} AND "id" = ${leadId}::uuid
      ),
      pairs AS (
        SELECT f."id" AS x, b."id" AS y, f."displayName" AS xn, b."displayName" AS yn,
               'same_national_phone' AS reason
          FROM f JOIN "Lead" b ON b."tenantId" = ${t} AND b."phoneNational" = f."phoneNational"
                              AND b."id" <> f."id"
         WHERE ${live('b')} AND ${small(Prisma.sql`c."phoneNational" = f."phoneNational"`)}
        UNION ALL
        SELECT f."id", b."id", f."displayName", b."displayName", 'email_matches_username'
          FROM f JOIN "Lead" b ON b."tenantId" = ${t} AND b."telegramUsername" = f."emailLocal"
                              AND b."id" <> f."id"
         WHERE ${live('b')} AND ${small(Prisma.sql`c."emailLocal" = f."emailLocal"`)}
        UNION ALL
        SELECT f."id", b."id", f."displayName", b."displayName", 'email_matches_username'
          FROM f JOIN "Lead" b ON b."tenantId" = ${t} AND b."emailLocal" = f."telegramUsername"
                              AND b."id" <> f."id"
         WHERE ${live('b')} AND ${small(Prisma.sql`c."emailLocal" = f."telegramUsername"`)}
        UNION ALL
        SELECT f."id", b."id", f."displayName", b."displayName", 'same_name_and_country'
          FROM f JOIN "Lead" b ON b."tenantId" = ${t} AND lower(b."displayName") = f.name
                              AND b."country" = f."country" AND b."id" <> f."id"
         WHERE ${live('b')}
           AND ${small(
             Prisma.sql`lower(c."displayName") = f.name AND c."country" = f."country" AND ${live('c')}`,
           )}
      )`;
    return this.page(sources, query);
  }

  /**
   * Never propose this pair again (stored once, in id order). Both leads must be
   * visible and live. Joins an open transaction.
   */
  async dismiss(body: DismissDuplicateBody): Promise<void> {
    const { tenantId, actor } = currentTenant();
    const [a, b] = body.leadIds.map((id) => id.toLowerCase()).sort() as [string, string];
    await this.db.transaction(async () => {
      const leads = await this.db.query<{ id: string; mergedIntoId: string | null }>(
        Prisma.sql`SELECT "id"::text AS "id", "mergedIntoId"::text AS "mergedIntoId" FROM "Lead"
                    WHERE "tenantId" = ${tenantId}::uuid AND "id" IN (${a}::uuid, ${b}::uuid)`,
      );
      if (leads.length !== 2) throw new NotFoundError('lead');
      for (const lead of leads) {
        if (lead.mergedIntoId) await this.gone(lead.id);
      }
      const inserted = await this.db.query<{ leadId: string }>(
        Prisma.sql`INSERT INTO "DuplicateDismissal" ("tenantId", "leadId", "otherLeadId", "dismissedBy")
                   VALUES (${tenantId}::uuid, ${a}::uuid, ${b}::uuid, ${actor.id.slice(0, 64)})
                   ON CONFLICT DO NOTHING
                   RETURNING "leadId"`,
      );
      if (inserted.length > 0) {
        await this.audit.record({
          action: 'lead.duplicate_dismissed',
          targetType: 'lead',
          targetId: a,
          metadata: { leadIds: [a, b] },
        });
      }
    });
  }

  /**
   * Scores the pairs that `sources` finds (CTEs ending in `pairs(x, y, xn, yn, reason)`:
   * both ids, x < y for the tenant's list, both names and one reason per row), drops
   * dismissed ones and names that are not similar, and answers one keyset page (score
   * descending, then the ids).
   */
  private async page(sources: Prisma.Sql, query: DuplicatesQuery): Promise<Page<DuplicatePair>> {
    const { tenantId } = currentTenant();
    const t = Prisma.sql`${tenantId}::uuid`;
    let after = Prisma.empty;
    if (query.cursor) {
      const [score, x, y] = decodeCursor(query.cursor, ['number', 'uuid', 'uuid']) as [
        number,
        string,
        string,
      ];
      if (score < 0 || score > 1) {
        throw new ValidationError([{ field: 'query.cursor', message: 'is not a valid cursor' }]);
      }
      after = Prisma.sql`WHERE r.score < ${score}::float8
                            OR (r.score = ${score}::float8 AND (r.x, r.y) > (${x}::uuid, ${y}::uuid))`;
    }
    const weight = (reason: keyof typeof WEIGHTS) =>
      Prisma.sql`(CASE WHEN ${reason} = ANY(g.reasons) THEN ${1 - WEIGHTS[reason]}::float8 ELSE 1 END)`;
    // JIT compilation costs more than this query (seconds on large tenants) and
    // plans it no better: off for this transaction only.
    const rows = await this.db.transaction(async () => {
      await this.db.query(Prisma.sql`SELECT set_config('jit', 'off', true)`);
      return this.db.query<PairRow>(Prisma.sql`
        WITH ${sources},
        scored AS (
          SELECT g.x, g.y, g.reasons, g.sim,
                 1 - ${weight('same_national_phone')} * ${weight('email_matches_username')}
                     * ${weight('same_name_and_country')} AS evidence
            FROM (SELECT x, y, array_agg(DISTINCT reason ORDER BY reason) AS reasons,
                         similarity(lower(min(xn)), lower(min(yn)))::float8 AS sim
                    FROM pairs GROUP BY x, y) g
           WHERE g.sim >= ${NAME_SIMILARITY_MIN}
             AND NOT EXISTS (
               SELECT 1 FROM "DuplicateDismissal" d
                WHERE d."tenantId" = ${t} AND d."leadId" = LEAST(g.x, g.y)
                  AND d."otherLeadId" = GREATEST(g.x, g.y))
        ),
        ranked AS (
          SELECT x, y, reasons, round((0.4 * sim + 0.6 * evidence)::numeric, 4)::float8 AS score
            FROM scored
        )
        SELECT r.x::text AS x, r.y::text AS y, r.reasons, r.score FROM ranked r
        ${after}
        ORDER BY r.score DESC, r.x, r.y
        LIMIT ${query.limit + 1}`);
    });
    const items = rows.slice(0, query.limit);
    const views = await this.views(items.flatMap((r) => [r.x, r.y]));
    const last = items.at(-1);
    return {
      items: items.flatMap((row) => {
        const a = views.get(row.x);
        const b = views.get(row.y);
        // A lead deleted between the two reads: its pair is gone too.
        if (!a || !b) return [];
        return [{ leads: [a, b] as const, reasons: reasonsOf(row.reasons), score: row.score }];
      }),
      nextCursor:
        rows.length > query.limit && last ? encodeCursor([last.score, last.x, last.y]) : null,
    };
  }

  /** A merged lead's id: 410 naming the survivor (404 when the caller cannot see it). */
  private async gone(leadId: string): Promise<never> {
    const { tenantId } = currentTenant();
    const resolved = await resolveLead(this.db, tenantId, leadId);
    if (!resolved?.survivorId) throw new NotFoundError('lead');
    throw leadMergedError(resolved.survivorId);
  }

  private async views(ids: readonly string[]): Promise<Map<string, LeadView>> {
    if (ids.length === 0) return new Map();
    const { tenantId } = currentTenant();
    const rows = await this.db.query<LeadView>(
      Prisma.sql`SELECT ${LEAD_VIEW_COLUMNS} FROM "Lead" l
                  WHERE l."tenantId" = ${tenantId}::uuid AND l."id" = ANY(${[...new Set(ids)]}::uuid[])`,
    );
    return new Map(rows.map((v) => [v.id, v]));
  }
}

/** The partial-match reasons (strongest first), then `similar_name`, which every pair has. */
function reasonsOf(found: readonly string[]): DuplicateReason[] {
  const partial = DUPLICATE_REASONS.filter((r) => r !== 'similar_name' && found.includes(r));
  return [...partial, 'similar_name'];
}
