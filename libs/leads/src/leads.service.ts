import { isDeepStrictEqual } from 'node:util';
import { Injectable } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { AuditService } from '@ibhq/audit';
import { currentTenant, DomainError, ErrorCode, NotFoundError, ValidationError } from '@ibhq/core';
import { Prisma, TenantDb } from '@ibhq/db';
import { AssignmentService } from './assignment.service.js';
import { applyCustomFieldValues } from './custom-fields.js';
import { CustomFieldsService } from './custom-fields.service.js';
import { normalisePhone, searchTextOf } from './identity.js';
import {
  databaseErrorOf,
  handOverLeads,
  IDENTITIES,
  identityOfConstraint,
  leadMergedError,
  resolveLead,
  type CreateLeadBody,
  type Identity,
  type IdentityValues,
  type PatchLeadBody,
} from './lead-input.js';
import {
  LEAD_PROFILE_FIELDS,
  LEAD_VIEW_COLUMNS,
  type LeadSource,
  type LeadView,
  type StoredLead,
} from './lead-view.js';
import { PipelineService } from './pipeline.service.js';
import { TagsService } from './tags.service.js';
import { TimelineService } from './timeline.service.js';

/** A lead row as an update needs it (read under a row lock). */
interface LeadRow extends StoredLead {
  readonly sourceDetails: Record<string, unknown>;
  readonly stageChangedAt: Date;
  readonly customFields: Record<string, unknown>;
  readonly version: number;
  readonly mergedIntoId: string | null;
  readonly createdAt: Date;
}

const ROW_COLUMNS = Prisma.raw(`"id", "displayName", "telegramUserId"::text AS "telegramUserId",
  "telegramUsername"::text AS "telegramUsername", "phone", "phoneNational", "email",
  "emailLocal"::text AS "emailLocal", "language", "country", "source"::text AS "source",
  "sourceDetails", "ownerId", "stageId", "stageChangedAt", "customFields", "version",
  "mergedIntoId", "createdAt"`);

/**
 * What a write asks for, normalised: undefined leaves a field alone, null clears it.
 * (The phone is still the caller's text: its default country is the lead's.)
 */
type Changes = Omit<PatchLeadBody, 'version'>;

/** Scalar columns a write may set, in the order field changes are reported. */
const SCALARS = [...LEAD_PROFILE_FIELDS, 'source', 'sourceDetails'] as const;
type Scalar = (typeof SCALARS)[number];

/** The stored values of the scalar columns (plus their derived keys). */
interface Stored {
  displayName: string;
  telegramUserId: string | null;
  telegramUsername: string | null;
  phone: string | null;
  phoneNational: string | null;
  email: string | null;
  emailLocal: string | null;
  language: string | null;
  country: string | null;
  source: LeadSource;
  sourceDetails: Record<string, unknown>;
}

/** The column of each scalar, as SQL that casts its parameter. */
function columnValue(field: Scalar | 'phoneNational' | 'emailLocal', stored: Stored): Prisma.Sql {
  switch (field) {
    case 'telegramUserId':
      return Prisma.sql`${stored.telegramUserId}::bigint`;
    case 'source':
      return Prisma.sql`${stored.source}::"LeadSource"`;
    case 'sourceDetails':
      return Prisma.sql`${JSON.stringify(stored.sourceDetails)}::jsonb`;
    default:
      return Prisma.sql`${stored[field]}`;
  }
}

export interface IdentityMatch {
  readonly identity: Identity;
  readonly leadId: string;
}

/** The 409 of an identity that another lead holds (or identities that several hold). */
export function identityConflict(matches: readonly IdentityMatch[]): DomainError {
  const leadIds = [...new Set(matches.map((m) => m.leadId))];
  const [first] = matches;
  if (leadIds.length > 1) {
    return new DomainError(
      ErrorCode.Conflict,
      `the identities given belong to ${String(leadIds.length)} different leads: merge them first`,
      { existingLeadIds: leadIds, matches: matches.map((m) => ({ ...m })) },
    );
  }
  return new DomainError(
    ErrorCode.Conflict,
    `a lead with this ${first?.identity ?? 'identity'} exists`,
    {
      ...(first ? { existingLeadId: first.leadId } : {}),
      identity: first?.identity ?? null,
      matches: matches.map((m) => ({ ...m })),
    },
  );
}

export type LeadRead = { readonly lead: LeadView } | { readonly mergedInto: string };

/**
 * Lead records of the current tenant: create, upsert by identity, read, partial
 * update with optimistic concurrency, delete. The timeline of each lead is
 * TimelineService; lists and search are LeadListService.
 *
 * Identities (Telegram user id, username, phone, e-mail) are unique per tenant: the
 * unique indexes decide (a concurrent write that slips past the pre-check fails on
 * them and is answered with the same 409), the pre-check only names the lead.
 */
@Injectable()
export class LeadsService {
  constructor(
    private readonly db: TenantDb,
    private readonly timeline: TimelineService,
    private readonly pipeline: PipelineService,
    private readonly tags: TagsService,
    private readonly customFields: CustomFieldsService,
    private readonly assignment: AssignmentService,
    private readonly audit: AuditService,
  ) {}

  /** Creates a lead; 409 CONFLICT (details.existingLeadId, identity) when an identity exists. */
  async create(input: CreateLeadBody): Promise<LeadView> {
    return (await this.write(input, 'create')).lead;
  }

  /** `?onConflict=merge`: creates the lead, or updates the one holding its identity. */
  async createOrMerge(input: CreateLeadBody): Promise<{ lead: LeadView; created: boolean }> {
    return this.write(input, 'merge');
  }

  /**
   * PUT /v1/leads/by-identity: the lead found by any identity given is updated with
   * the given fields, or created when there is none. Identities of two different
   * leads are a 409 that changes nothing.
   */
  async upsertByIdentity(input: CreateLeadBody): Promise<{ lead: LeadView; created: boolean }> {
    if (IDENTITIES.every((i) => input[i] === undefined)) {
      throw new ValidationError([
        {
          field: 'body',
          message: 'give at least one identity: telegramUserId, telegramUsername, phone or email',
        },
      ]);
    }
    return this.write(input, 'merge');
  }

  /** A lead, or the survivor a merged lead's id now stands for. 404 for none. */
  async get(id: string): Promise<LeadRead> {
    const { tenantId } = currentTenant('LeadsService.get');
    const [lead] = await this.db.query<LeadView>(
      Prisma.sql`SELECT ${LEAD_VIEW_COLUMNS}, l."mergedIntoId" FROM "Lead" l
                  WHERE l."tenantId" = ${tenantId}::uuid AND l."id" = ${id}::uuid`,
    );
    if (!lead) throw new NotFoundError('lead');
    const { mergedIntoId, ...view } = lead as LeadView & { mergedIntoId: string | null };
    if (mergedIntoId === null) return { lead: view };
    const resolved = await resolveLead(this.db, tenantId, id);
    if (!resolved?.survivorId) throw new NotFoundError('lead');
    return { mergedInto: resolved.survivorId };
  }

  /**
   * A partial update. `versions` (If-Match or body.version): the update applies only
   * to one of them, else 409 CONFLICT details.currentVersion and nothing changes.
   * The row is locked for the update, and only the given fields are written, so two
   * concurrent updates of different fields both land. Nothing changed: no version
   * bump, no activity.
   */
  async update(id: string, input: PatchLeadBody, ifMatch?: readonly number[]): Promise<LeadView> {
    const { version, ...changes } = input;
    const versions =
      version === undefined ? ifMatch : ifMatch && !ifMatch.includes(version) ? [] : [version];
    return this.retryOnIdentityRace(() =>
      this.db.transaction(() => this.applyUpdate(id, changes, versions)),
    );
  }

  /** Deletes a lead (its timeline, tags and history with it, and its merge tombstones). */
  async delete(id: string): Promise<void> {
    const { tenantId } = currentTenant('LeadsService.delete');
    await this.db.transaction(async () => {
      const row = await this.lockRow(id);
      const deleted = await this.db.query<{ id: string }>(
        Prisma.sql`DELETE FROM "Lead"
                    WHERE "tenantId" = ${tenantId}::uuid
                      AND ("id" = ${row.id}::uuid OR "mergedIntoId" = ${row.id}::uuid)
                    RETURNING "id"`,
      );
      await this.audit.record({
        action: 'lead.deleted',
        targetType: 'lead',
        targetId: row.id,
        metadata: { tombstones: deleted.length - 1 },
      });
    });
  }

  /** The identities of `values` that other leads (not `exceptId`) hold. */
  private async matchIdentities(
    values: IdentityValues,
    exceptId: string | null = null,
  ): Promise<IdentityMatch[]> {
    const { tenantId } = currentTenant('LeadsService.matchIdentities');
    const parts: Prisma.Sql[] = [];
    for (const identity of IDENTITIES) {
      const value = values[identity];
      if (value === undefined || value === null) continue;
      const cast =
        identity === 'telegramUserId'
          ? Prisma.sql`${value}::bigint`
          : identity === 'telegramUsername'
            ? Prisma.sql`${value}::citext`
            : Prisma.sql`${value}`;
      parts.push(Prisma.sql`SELECT ${identity}::text AS "identity", "id" AS "leadId" FROM "Lead"
                             WHERE "tenantId" = ${tenantId}::uuid AND ${Prisma.raw(`"${identity}"`)} = ${cast}
                               AND "id" IS DISTINCT FROM ${exceptId}::uuid`);
    }
    if (parts.length === 0) return [];
    const rows = await this.db.query<IdentityMatch>(Prisma.join(parts, ' UNION ALL '));
    return IDENTITIES.flatMap((i) => rows.filter((r) => r.identity === i));
  }

  // --- internals ---------------------------------------------------------------------

  private async write(
    input: CreateLeadBody,
    mode: 'create' | 'merge',
  ): Promise<{ lead: LeadView; created: boolean }> {
    const phone = input.phone === undefined ? undefined : this.phoneOf(input.phone, input.country);
    return this.retryOnIdentityRace(() =>
      this.db.transaction(async () => {
        const matches = await this.matchIdentities({
          telegramUserId: input.telegramUserId,
          telegramUsername: input.telegramUsername,
          phone: phone?.e164,
          email: input.email?.email,
        });
        const leadIds = [...new Set(matches.map((m) => m.leadId))];
        const [existing] = leadIds;
        if (leadIds.length > 1 || (existing !== undefined && mode === 'create')) {
          throw identityConflict(matches);
        }
        if (existing !== undefined) {
          return { lead: await this.applyUpdate(existing, input, undefined), created: false };
        }
        return { lead: await this.insert(input, phone ?? null), created: true };
      }),
    );
  }

  /**
   * Runs `work` (one transaction); when a unique index refused an identity that the
   * pre-check did not see (a concurrent write committed it meanwhile), runs it once
   * more, which then finds that lead and answers accordingly. A violation that
   * persists (a lead the caller may not see holds it) is the same 409, without the id.
   */
  private async retryOnIdentityRace<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (e) {
        const db = databaseErrorOf(e);
        const identity = db?.code === '23505' ? identityOfConstraint(db.constraint) : null;
        if (!identity) throw e;
        if (attempt >= 2) {
          throw new DomainError(ErrorCode.Conflict, `a lead with this ${identity} exists`, {
            identity,
          });
        }
      }
    }
  }

  private phoneOf(
    text: string,
    country: string | null | undefined,
  ): { e164: string; national: string } {
    const phone = normalisePhone(text, country);
    if (!phone.ok) throw new ValidationError([{ field: 'body.phone', message: phone.message }]);
    return phone.value;
  }

  private async insert(
    input: CreateLeadBody,
    phone: { e164: string; national: string } | null,
  ): Promise<LeadView> {
    const { tenantId, actor } = currentTenant('LeadsService.create');
    const source: LeadSource = input.source ?? (actor.type === 'api_key' ? 'api' : 'manual');
    const stageId =
      input.stageId === undefined
        ? await this.defaultStage()
        : (await this.pipeline.usable(input.stageId, 'body.stageId')).id;
    const ownerId =
      input.ownerId === undefined
        ? ((await this.assignment.nextOwner(source)) ?? (actor.type === 'user' ? actor.id : null))
        : await this.member(input.ownerId);
    const customFields = applyCustomFieldValues(
      await this.customFields.definitions(),
      {},
      input.customFields ?? {},
      { field: 'body.customFields', complete: true },
    );
    const id = uuidv7();
    const stored: Stored = {
      displayName: input.displayName,
      telegramUserId: input.telegramUserId ?? null,
      telegramUsername: input.telegramUsername ?? null,
      phone: phone?.e164 ?? null,
      phoneNational: phone?.national ?? null,
      email: input.email?.email ?? null,
      emailLocal: input.email?.local ?? null,
      language: input.language ?? null,
      country: input.country ?? null,
      source,
      sourceDetails: input.sourceDetails ?? {},
    };
    // No RETURNING: an agent who sees only their own leads may create one for another
    // member, and row-level security would refuse to return it.
    await this.db.query(Prisma.sql`
      INSERT INTO "Lead" ("tenantId", "id", "displayName", "telegramUserId", "telegramUsername",
        "phone", "phoneNational", "email", "emailLocal", "language", "country", "source",
        "sourceDetails", "ownerId", "stageId", "customFields", "searchText", "updatedAt")
      VALUES (${tenantId}::uuid, ${id}::uuid, ${stored.displayName}, ${columnValue('telegramUserId', stored)},
        ${stored.telegramUsername}, ${stored.phone}, ${stored.phoneNational}, ${stored.email},
        ${stored.emailLocal}, ${stored.language}, ${stored.country}, ${columnValue('source', stored)},
        ${columnValue('sourceDetails', stored)}, ${ownerId}::uuid, ${stageId}::uuid,
        ${JSON.stringify(customFields)}::jsonb, ${searchTextOf(stored)}, now())`);
    if (input.tags && input.tags.length > 0) {
      // A new lead has no tags to replace, only these to add (directly: a lead given to
      // another owner is already hidden from an agent who sees only their own).
      const tags = await this.tags.ensure(input.tags);
      await this.db.query(Prisma.sql`
        INSERT INTO "LeadTag" ("tenantId", "leadId", "tagId")
        SELECT ${tenantId}::uuid, ${id}::uuid, t FROM unnest(${tags.map((t) => t.id)}::uuid[]) AS t
        ON CONFLICT DO NOTHING`);
    }
    await this.timeline.record([{ leadId: id, kind: 'created', data: { source } }]);
    return this.viewAfterWrite(id, {
      ...stored,
      id,
      ownerId,
      stageId,
      customFields,
      version: 1,
      createdAt: null,
      stageChangedAt: null,
    });
  }

  /** The lead locked for an update: 404 for none, 410 for a merged one. */
  private async lockRow(id: string): Promise<LeadRow> {
    const { tenantId } = currentTenant('LeadsService.lockRow');
    const [row] = await this.db.query<LeadRow>(
      Prisma.sql`SELECT ${ROW_COLUMNS} FROM "Lead"
                  WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid FOR UPDATE`,
    );
    if (!row) throw new NotFoundError('lead');
    if (row.mergedIntoId !== null) {
      const resolved = await resolveLead(this.db, tenantId, id);
      if (!resolved?.survivorId) throw new NotFoundError('lead');
      throw leadMergedError(resolved.survivorId);
    }
    return row;
  }

  /** The update itself, inside the caller's transaction. */
  private async applyUpdate(
    id: string,
    changes: Changes,
    versions: readonly number[] | undefined,
  ): Promise<LeadView> {
    const { tenantId } = currentTenant('LeadsService.update');
    const row = await this.lockRow(id);
    if (versions && !versions.includes(row.version)) {
      throw new DomainError(
        ErrorCode.Conflict,
        `the lead changed meanwhile (version ${String(row.version)}): read it again and retry`,
        { currentVersion: row.version },
      );
    }

    // The values after the update.
    const country = changes.country === undefined ? row.country : changes.country;
    const phone =
      changes.phone === undefined || changes.phone === null
        ? changes.phone
        : this.phoneOf(changes.phone, country);
    const next: Stored = {
      displayName: changes.displayName ?? row.displayName,
      telegramUserId:
        changes.telegramUserId === undefined ? row.telegramUserId : changes.telegramUserId,
      telegramUsername:
        changes.telegramUsername === undefined ? row.telegramUsername : changes.telegramUsername,
      phone: phone === undefined ? row.phone : (phone?.e164 ?? null),
      phoneNational: phone === undefined ? row.phoneNational : (phone?.national ?? null),
      email:
        changes.email === undefined
          ? row.email
          : changes.email === null
            ? null
            : changes.email.email,
      emailLocal:
        changes.email === undefined
          ? row.emailLocal
          : changes.email === null
            ? null
            : changes.email.local,
      language: changes.language === undefined ? row.language : changes.language,
      country,
      source: changes.source ?? row.source,
      sourceDetails:
        changes.sourceDetails === undefined ? row.sourceDetails : (changes.sourceDetails ?? {}),
    };
    const changed = SCALARS.filter((f) => !isDeepStrictEqual(next[f], row[f]));

    // Identities taken by another lead.
    const taken = await this.matchIdentities(
      Object.fromEntries(IDENTITIES.filter((i) => changed.includes(i)).map((i) => [i, next[i]])),
      row.id,
    );
    if (taken.length > 0) throw identityConflict(taken);

    const ownerId =
      changes.ownerId === undefined || changes.ownerId === row.ownerId
        ? row.ownerId
        : changes.ownerId === null
          ? null
          : await this.member(changes.ownerId);
    const stageId =
      changes.stageId === undefined || changes.stageId === row.stageId
        ? row.stageId
        : (await this.pipeline.usable(changes.stageId, 'body.stageId')).id;

    let customFields = row.customFields;
    const fieldChanges: Record<string, { from: unknown; to: unknown }> = {};
    for (const f of changed) fieldChanges[f] = { from: row[f], to: next[f] };
    if (changes.customFields !== undefined && Object.keys(changes.customFields).length > 0) {
      const definitions = await this.customFields.definitions();
      customFields = applyCustomFieldValues(definitions, row.customFields, changes.customFields, {
        field: 'body.customFields',
        complete: false,
      });
      for (const key of Object.keys(changes.customFields)) {
        const from = row.customFields[key] ?? null;
        const to = customFields[key] ?? null;
        if (!isDeepStrictEqual(from, to)) fieldChanges[`customFields.${key}`] = { from, to };
      }
    }
    let tagChanges: { added: string[]; removed: string[] } | null = null;
    if (changes.tags !== undefined) {
      const { added, removed } = await this.tags.setForLead(row.id, changes.tags ?? []);
      if (added.length > 0 || removed.length > 0) tagChanges = { added, removed };
    }
    const ownerChanged = ownerId !== row.ownerId;
    const stageChanged = stageId !== row.stageId;
    const customChanged = Object.keys(fieldChanges).some((k) => k.startsWith('customFields.'));
    if (Object.keys(fieldChanges).length === 0 && !tagChanges && !ownerChanged && !stageChanged) {
      return this.viewAfterWrite(row.id, { ...row, ...next });
    }

    const sets: Prisma.Sql[] = changed.map(
      (f) => Prisma.sql`${Prisma.raw(`"${f}"`)} = ${columnValue(f, next)}`,
    );
    if (changed.includes('phone')) sets.push(Prisma.sql`"phoneNational" = ${next.phoneNational}`);
    if (changed.includes('email')) sets.push(Prisma.sql`"emailLocal" = ${next.emailLocal}`);
    if (changed.some((f) => ['displayName', 'telegramUsername', 'phone', 'email'].includes(f))) {
      sets.push(Prisma.sql`"searchText" = ${searchTextOf(next)}`);
    }
    if (ownerChanged) sets.push(Prisma.sql`"ownerId" = ${ownerId}::uuid`);
    if (stageChanged) {
      sets.push(Prisma.sql`"stageId" = ${stageId}::uuid`, Prisma.sql`"stageChangedAt" = now()`);
    }
    if (customChanged)
      sets.push(Prisma.sql`"customFields" = ${JSON.stringify(customFields)}::jsonb`);
    // Values, not expressions over the row (the row is locked: they are exact).
    sets.push(Prisma.sql`"version" = ${row.version + 1}::int`, Prisma.sql`"updatedAt" = now()`);
    const { leadOwnerScope } = currentTenant('LeadsService.update');
    if (ownerChanged && leadOwnerScope !== undefined && ownerId !== leadOwnerScope) {
      // Given away by an agent who then no longer sees it: see handOverLeads.
      const written = await handOverLeads(this.db, tenantId, new Map([[row.id, sets]]));
      if (written.length !== 1) throw new NotFoundError('lead');
    } else {
      await this.db.query(Prisma.sql`UPDATE "Lead" SET ${Prisma.join(sets, ', ')}
                                       WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${row.id}::uuid`);
    }

    // The timeline: what changed (not whole rows), owner and stage moves.
    const fieldsChanged: Record<string, unknown> = { ...fieldChanges };
    if (tagChanges) fieldsChanged.tags = tagChanges;
    await this.timeline.record([
      ...(Object.keys(fieldsChanged).length > 0
        ? [{ leadId: row.id, kind: 'fields_changed' as const, data: { changes: fieldsChanged } }]
        : []),
      ...(ownerChanged
        ? [
            {
              leadId: row.id,
              kind: 'owner_changed' as const,
              data: { from: row.ownerId, to: ownerId },
            },
          ]
        : []),
    ]);
    if (stageChanged) {
      await this.pipeline.recordMoves([
        { leadId: row.id, fromStageId: row.stageId, toStageId: stageId },
      ]);
    }
    return this.viewAfterWrite(row.id, {
      ...row,
      ...next,
      ownerId,
      stageId,
      customFields,
      version: row.version + 1,
      stageChangedAt: stageChanged ? null : row.stageChangedAt,
    });
  }

  /**
   * The lead as written, read back. An agent who sees only their own leads may just
   * have given it to someone else (or created it for them): row-level security then
   * hides it, and the view is built from what was written.
   */
  private async viewAfterWrite(
    id: string,
    known: Stored & {
      id: string;
      ownerId: string | null;
      stageId: string;
      customFields: Record<string, unknown>;
      version: number;
      createdAt: Date | null;
      stageChangedAt: Date | null;
    },
  ): Promise<LeadView> {
    const { tenantId } = currentTenant('LeadsService.view');
    const [lead] = await this.db.query<LeadView>(
      Prisma.sql`SELECT ${LEAD_VIEW_COLUMNS} FROM "Lead" l
                  WHERE l."tenantId" = ${tenantId}::uuid AND l."id" = ${id}::uuid`,
    );
    if (lead) return lead;
    const [extra] = await this.db.query<{ now: Date; stageName: string; tags: string[] }>(
      Prisma.sql`SELECT now()::timestamptz(3) AS "now",
        (SELECT s."name"::text FROM "Stage" s WHERE s."tenantId" = ${tenantId}::uuid AND s."id" = ${known.stageId}::uuid) AS "stageName",
        COALESCE((SELECT array_agg(t."name"::text ORDER BY t."name")
                    FROM "LeadTag" lt JOIN "Tag" t ON t."tenantId" = lt."tenantId" AND t."id" = lt."tagId"
                   WHERE lt."tenantId" = ${tenantId}::uuid AND lt."leadId" = ${id}::uuid), '{}') AS "tags"`,
    );
    const now = extra?.now ?? new Date();
    return {
      id,
      displayName: known.displayName,
      telegramUserId: known.telegramUserId,
      telegramUsername: known.telegramUsername,
      phone: known.phone,
      email: known.email,
      language: known.language,
      country: known.country,
      source: known.source,
      sourceDetails: known.sourceDetails,
      ownerId: known.ownerId,
      stageId: known.stageId,
      stageName: extra?.stageName ?? '',
      stageChangedAt: known.stageChangedAt ?? now,
      tags: extra?.tags ?? [],
      customFields: known.customFields,
      version: known.version,
      createdAt: known.createdAt ?? now,
      updatedAt: now,
    };
  }

  /** The first open stage (the IB funnel is seeded on first use). */
  private async defaultStage(): Promise<string> {
    const { tenantId } = currentTenant('LeadsService.defaultStage');
    const [row] = await this.db.query<{ id: string }>(
      Prisma.sql`SELECT ibhq_default_stage(${tenantId}::uuid) AS "id"`,
    );
    if (!row) throw new Error('ibhq_default_stage returned nothing');
    return row.id;
  }

  /** `userId` if they are a member of the tenant, else a 400 naming body.ownerId. */
  private async member(userId: string): Promise<string> {
    const problems = await this.assignment.nonMembers([userId], () => 'body.ownerId');
    if (problems.length > 0) throw new ValidationError(problems);
    return userId.toLowerCase();
  }
}
