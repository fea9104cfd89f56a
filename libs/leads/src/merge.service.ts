import { Injectable } from '@nestjs/common';
import { AuditService } from '@ibhq/audit';
import { currentTenant, DomainError, ErrorCode } from '@ibhq/core';
import { Prisma, TenantDb } from '@ibhq/db';
import { MERGE_FIELDS, mergeBody, type MergeBody, type MergeField } from './duplicates.dto.js';
import { searchTextOf } from './identity.js';
import { LEAD_VIEW_COLUMNS, type LeadView, type StoredLead } from './lead-view.js';
import { PipelineService } from './pipeline.service.js';
import { TimelineService } from './timeline.service.js';

/** A lead as the merge reads it (locked), with its duplicate keys. */
export interface LockedLead extends Omit<StoredLead, 'source'> {
  readonly sourceDetails: Record<string, unknown>;
  readonly customFields: Record<string, unknown>;
  readonly mergedIntoId: string | null;
}

/** What the survivor becomes, and which lead each value came from. */
export interface MergePlan {
  readonly values: Pick<LockedLead, MergeField | 'customFields' | 'phoneNational' | 'emailLocal'>;
  /** Field (custom fields as `customFields.<key>`) -> the merged lead its value came from. */
  readonly taken: Record<string, string>;
}

const isGap = (value: unknown): boolean =>
  value === null ||
  value === undefined ||
  (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0);

/**
 * The survivor's values: per field the caller's pick, else the survivor's own value,
 * else the first merged lead (in the order given) that has one. Custom fields go key
 * by key. A phone travels with its national digits, an e-mail with its local part.
 */
export function planMerge(
  survivor: LockedLead,
  merged: readonly LockedLead[],
  picks: MergeBody['fields'] = {},
): MergePlan {
  const order = [survivor, ...merged];
  const byId = new Map(order.map((l) => [l.id, l]));
  const taken: Record<string, string> = {};
  const winnerOf = (field: MergeField): LockedLead => {
    const pick = picks[field]?.toLowerCase();
    const picked = pick === undefined ? undefined : byId.get(pick);
    return picked ?? order.find((l) => !isGap(l[field])) ?? survivor;
  };
  const winners = Object.fromEntries(MERGE_FIELDS.map((f) => [f, winnerOf(f)])) as Record<
    MergeField,
    LockedLead
  >;
  for (const field of MERGE_FIELDS) {
    if (winners[field].id !== survivor.id) taken[field] = winners[field].id;
  }
  const customFields: Record<string, unknown> = {};
  const keys = new Set(order.flatMap((l) => Object.keys(l.customFields)));
  for (const key of Object.keys(picks.customFields ?? {})) keys.add(key);
  for (const key of [...keys].sort()) {
    const pick = picks.customFields?.[key]?.toLowerCase();
    const picked = pick === undefined ? undefined : byId.get(pick);
    const winner = picked ?? order.find((l) => !isGap(l.customFields[key]));
    const value = winner?.customFields[key];
    if (winner === undefined || value === undefined || value === null) continue;
    customFields[key] = value;
    if (winner.id !== survivor.id) taken[`customFields.${key}`] = winner.id;
  }
  const value = <F extends MergeField>(field: F): LockedLead[F] => winners[field][field];
  return {
    values: {
      displayName: value('displayName'),
      telegramUserId: value('telegramUserId'),
      telegramUsername: value('telegramUsername'),
      phone: value('phone'),
      phoneNational: winners.phone.phoneNational,
      email: value('email'),
      emailLocal: winners.email.emailLocal,
      language: value('language'),
      country: value('country'),
      ownerId: value('ownerId'),
      stageId: value('stageId'),
      sourceDetails: value('sourceDetails'),
      customFields,
    },
    taken,
  };
}

/** A lead that was merged already takes part in no other merge: 409 naming its survivor. */
export function mergedError(leadId: string, mergedIntoId: string): DomainError {
  return new DomainError(ErrorCode.Conflict, `lead ${leadId} was merged into ${mergedIntoId}`, {
    leadId,
    mergedIntoId,
  });
}

/**
 * Merges leads into a survivor, in one transaction: the survivor takes the chosen
 * values and every row that pointed at the merged leads; the merged leads stay as
 * tombstones (mergedIntoId) whose identities are free again.
 */
@Injectable()
export class MergeService {
  /** The request schema (duplicates.dto.ts), reachable through the library's public entry. */
  static readonly dto = { mergeBody } as const;

  constructor(
    private readonly db: TenantDb,
    private readonly timeline: TimelineService,
    private readonly pipeline: PipelineService,
    private readonly audit: AuditService,
  ) {}

  async merge(body: MergeBody): Promise<LeadView> {
    const { tenantId } = currentTenant();
    const t = Prisma.sql`${tenantId}::uuid`;
    const survivorId = body.survivorId.toLowerCase();
    const mergedIds = body.mergedIds.map((id) => id.toLowerCase());
    const all = [survivorId, ...mergedIds];
    return this.db.transaction(
      async () => {
        // Locked in id order, whatever the order given: two merges of overlapping
        // leads queue behind each other instead of deadlocking. The second finds the
        // first's tombstones and answers 409.
        const rows = await this.db.query<LockedLead>(Prisma.sql`
          SELECT "id"::text AS "id", "displayName", "telegramUserId"::text AS "telegramUserId",
                 "telegramUsername"::text AS "telegramUsername", "phone", "email", "language",
                 "country", "ownerId"::text AS "ownerId", "stageId"::text AS "stageId",
                 "sourceDetails", "customFields", "phoneNational",
                 "emailLocal"::text AS "emailLocal", "mergedIntoId"::text AS "mergedIntoId"
            FROM "Lead"
           WHERE "tenantId" = ${t} AND "id" = ANY(${all}::uuid[])
           ORDER BY "id"
             FOR UPDATE`);
        const byId = new Map(rows.map((r) => [r.id, r]));
        const missing = all.filter((id) => !byId.has(id));
        if (missing.length > 0) {
          throw new DomainError(ErrorCode.NotFound, 'lead not found', { leadIds: missing });
        }
        for (const id of all) {
          const mergedInto = byId.get(id)?.mergedIntoId;
          if (mergedInto) throw mergedError(id, mergedInto);
        }
        const survivor = byId.get(survivorId) as LockedLead;
        const merged = mergedIds.map((id) => byId.get(id) as LockedLead);
        const { values, taken } = planMerge(survivor, merged, body.fields);

        // The merged leads become tombstones first: their identities must be free
        // before the survivor takes any of them (unique per tenant).
        await this.db.query(Prisma.sql`
          UPDATE "Lead"
             SET "mergedIntoId" = ${survivorId}::uuid, "telegramUserId" = NULL,
                 "telegramUsername" = NULL, "phone" = NULL, "email" = NULL,
                 "phoneNational" = NULL, "emailLocal" = NULL, "searchText" = '',
                 "version" = "version" + 1, "updatedAt" = now()
           WHERE "tenantId" = ${t} AND "id" = ANY(${mergedIds}::uuid[])`);
        // Tombstones of earlier merges into a merged lead now redirect to the survivor.
        await this.db.query(Prisma.sql`
          UPDATE "Lead" SET "mergedIntoId" = ${survivorId}::uuid
           WHERE "tenantId" = ${t} AND "mergedIntoId" = ANY(${mergedIds}::uuid[])`);
        // Everything that points at a merged lead moves (every relation of "Lead" in
        // the schema): tags are united, the timeline and stage history move, and the
        // dismissed pairs of a lead that no longer exists go.
        await this.db.query(Prisma.sql`
          WITH moved AS (
            DELETE FROM "LeadTag"
             WHERE "tenantId" = ${t} AND "leadId" = ANY(${mergedIds}::uuid[])
            RETURNING "tagId"
          )
          INSERT INTO "LeadTag" ("tenantId", "leadId", "tagId")
          SELECT DISTINCT ${t}, ${survivorId}::uuid, "tagId" FROM moved
          ON CONFLICT DO NOTHING`);
        await this.db.query(Prisma.sql`
          UPDATE "LeadActivity" SET "leadId" = ${survivorId}::uuid
           WHERE "tenantId" = ${t} AND "leadId" = ANY(${mergedIds}::uuid[])`);
        await this.db.query(Prisma.sql`
          UPDATE "LeadStageChange" SET "leadId" = ${survivorId}::uuid
           WHERE "tenantId" = ${t} AND "leadId" = ANY(${mergedIds}::uuid[])`);
        await this.db.query(Prisma.sql`
          DELETE FROM "DuplicateDismissal"
           WHERE "tenantId" = ${t}
             AND ("leadId" = ANY(${mergedIds}::uuid[]) OR "otherLeadId" = ANY(${mergedIds}::uuid[]))`);

        await this.db.query(Prisma.sql`
          UPDATE "Lead"
             SET "displayName" = ${values.displayName},
                 "telegramUserId" = ${values.telegramUserId}::bigint,
                 "telegramUsername" = ${values.telegramUsername}::citext,
                 "phone" = ${values.phone}, "phoneNational" = ${values.phoneNational},
                 "email" = ${values.email}, "emailLocal" = ${values.emailLocal}::citext,
                 "language" = ${values.language}, "country" = ${values.country},
                 "ownerId" = ${values.ownerId}::uuid,
                 "stageChangedAt" = CASE WHEN "stageId" = ${values.stageId}::uuid
                                         THEN "stageChangedAt" ELSE now() END,
                 "stageId" = ${values.stageId}::uuid,
                 "sourceDetails" = ${JSON.stringify(values.sourceDetails)}::jsonb,
                 "customFields" = ${JSON.stringify(values.customFields)}::jsonb,
                 "searchText" = ${searchTextOf(values)},
                 "version" = "version" + 1, "updatedAt" = now()
           WHERE "tenantId" = ${t} AND "id" = ${survivorId}::uuid`);
        if (values.stageId !== survivor.stageId) {
          await this.pipeline.recordMoves([
            { leadId: survivorId, fromStageId: survivor.stageId, toStageId: values.stageId },
          ]);
        }
        await this.timeline.record([
          { leadId: survivorId, kind: 'merged', data: { mergedIds, fields: taken } },
        ]);
        // Last: the audit chain stays locked until the transaction ends.
        await this.audit.record({
          action: 'lead.merged',
          targetType: 'lead',
          targetId: survivorId,
          metadata: { mergedIds, count: mergedIds.length, fields: Object.keys(taken) },
        });
        const [view] = await this.db.query<LeadView>(
          Prisma.sql`SELECT ${LEAD_VIEW_COLUMNS} FROM "Lead" l
                      WHERE l."tenantId" = ${t} AND l."id" = ${survivorId}::uuid`,
        );
        return view as LeadView;
      },
      // A merge of leads with long timelines moves many rows.
      { timeoutMs: 60_000 },
    );
  }
}
