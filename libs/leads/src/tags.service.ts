import { Injectable } from '@nestjs/common';
import { AuditService } from '@ibhq/audit';
import {
  currentTenant,
  decodeCursor,
  DomainError,
  encodeCursor,
  ErrorCode,
  NotFoundError,
  type Page,
  ValidationError,
  type FieldProblem,
} from '@ibhq/core';
import { Prisma, TenantDb } from '@ibhq/db';
import type { CreateTagBody, ListTagsQuery, TagView, UpdateTagBody } from './crm-config.dto.js';
import { noControlCharacters, TAG_NAME_MAX } from './lead-input.js';

export interface TagRef {
  readonly id: string;
  readonly name: string;
}

/**
 * Tag names as stored: trimmed, 1..50 characters, without control characters,
 * distinct without regard to case (the first spelling wins). Throws ValidationError
 * naming `${field}.N` for a bad one.
 */
export function normaliseTagNames(names: readonly unknown[], field = 'body.tags'): string[] {
  const problems: FieldProblem[] = [];
  const seen = new Map<string, string>();
  names.forEach((raw, i) => {
    const name = typeof raw === 'string' ? raw.trim() : '';
    if (typeof raw !== 'string') {
      problems.push({ field: `${field}.${String(i)}`, message: 'must be a tag name (a string)' });
    } else if (name.length < 1 || name.length > TAG_NAME_MAX) {
      problems.push({
        field: `${field}.${String(i)}`,
        message: `must be 1 to ${String(TAG_NAME_MAX)} characters`,
      });
    } else if (!noControlCharacters(name)) {
      problems.push({
        field: `${field}.${String(i)}`,
        message: 'must not hold control characters',
      });
    } else if (!seen.has(name.toLowerCase())) {
      seen.set(name.toLowerCase(), name);
    }
  });
  if (problems.length > 0) throw new ValidationError(problems);
  return [...seen.values()];
}

/** Tags of the tenant (many-to-many with leads). OWNER: tags/custom fields/assignment work. */
@Injectable()
export class TagsService {
  constructor(
    private readonly db: TenantDb,
    private readonly audit: AuditService,
  ) {}

  /** The tenant's tags by name (keyset pages), each with the number of leads carrying it. */
  async list(query: ListTagsQuery): Promise<Page<TagView>> {
    const { tenantId } = currentTenant('TagsService.list');
    const after =
      query.cursor === undefined ? null : String(decodeCursor(query.cursor, ['string'])[0]);
    const rows = await this.db.query<TagView>(Prisma.sql`
      SELECT ${TAG_COLUMNS} FROM "Tag" t
       WHERE t."tenantId" = ${tenantId}::uuid
         AND (${after}::citext IS NULL OR t."name" > ${after}::citext)
       ORDER BY t."name"
       LIMIT ${query.limit + 1}`);
    const items = rows.slice(0, query.limit);
    const last = items.at(-1);
    return {
      items,
      nextCursor: rows.length > query.limit && last ? encodeCursor([last.name]) : null,
    };
  }

  async get(id: string): Promise<TagView> {
    const { tenantId } = currentTenant('TagsService.get');
    const [tag] = await this.db.query<TagView>(Prisma.sql`
      SELECT ${TAG_COLUMNS} FROM "Tag" t
       WHERE t."tenantId" = ${tenantId}::uuid AND t."id" = ${id}::uuid`);
    if (!tag) throw new NotFoundError('tag');
    return tag;
  }

  /** A new tag; 409 when one of that name (without regard to case) exists. Audited. */
  async create(body: CreateTagBody): Promise<TagView> {
    const { tenantId } = currentTenant('TagsService.create');
    return this.db.transaction(async () => {
      await this.lockName(body.name);
      const [created] = await this.db.query<{ id: string }>(Prisma.sql`
        INSERT INTO "Tag" ("tenantId", "id", "name", "color")
        VALUES (${tenantId}::uuid, ibhq_uuidv7(), ${body.name}::citext, ${body.color ?? null})
        ON CONFLICT ("tenantId", "name") DO NOTHING
        RETURNING "id"`);
      if (!created) {
        await this.conflict(body.name, null);
        throw new DomainError(ErrorCode.Conflict, `a tag named "${body.name}" exists`);
      }
      const tag = await this.get(created.id);
      await this.audit.record({
        action: 'tag.created',
        targetType: 'tag',
        targetId: tag.id,
        metadata: { name: tag.name },
      });
      return tag;
    });
  }

  /** Renames or recolours a tag; 409 when the new name is another tag's. Audited. */
  async update(id: string, body: UpdateTagBody): Promise<TagView> {
    const { tenantId } = currentTenant('TagsService.update');
    return this.db.transaction(async () => {
      if (body.name !== undefined) await this.lockName(body.name);
      const [before] = await this.db.query<{ name: string; color: string | null }>(Prisma.sql`
        SELECT "name"::text AS "name", "color" FROM "Tag"
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid FOR UPDATE`);
      if (!before) throw new NotFoundError('tag');
      if (body.name !== undefined) await this.conflict(body.name, id);
      await this.db.query(Prisma.sql`
        UPDATE "Tag"
           SET "name" = COALESCE(${body.name ?? null}::citext, "name"),
               "color" = CASE WHEN ${body.color !== undefined}::boolean THEN ${body.color ?? null}::varchar
                              ELSE "color" END
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid`);
      const tag = await this.get(id);
      const renamed = tag.name !== before.name;
      await this.audit.record({
        action: renamed ? 'tag.renamed' : 'tag.updated',
        targetType: 'tag',
        targetId: id,
        metadata: renamed
          ? { from: before.name, to: tag.name }
          : { name: tag.name, color: tag.color },
      });
      return tag;
    });
  }

  /** Deletes a tag, removing it from every lead. Audited with the count of leads. */
  async delete(id: string): Promise<void> {
    const { tenantId } = currentTenant('TagsService.delete');
    await this.db.transaction(async () => {
      const [removed] = await this.db.query<{ count: number }>(Prisma.sql`
        WITH links AS (
          DELETE FROM "LeadTag" WHERE "tenantId" = ${tenantId}::uuid AND "tagId" = ${id}::uuid
          RETURNING 1)
        SELECT count(*)::int AS "count" FROM links`);
      const [tag] = await this.db.query<{ name: string }>(Prisma.sql`
        DELETE FROM "Tag" WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid
        RETURNING "name"::text AS "name"`);
      if (!tag) throw new NotFoundError('tag');
      await this.audit.record({
        action: 'tag.deleted',
        targetType: 'tag',
        targetId: id,
        metadata: { name: tag.name, count: removed?.count ?? 0 },
      });
    });
  }

  /** Serialises creates and renames to one name, so a clash is a 409, never a 500. */
  private async lockName(name: string): Promise<void> {
    const { tenantId } = currentTenant('TagsService.lockName');
    await this.db.query(Prisma.sql`
      SELECT pg_advisory_xact_lock(hashtextextended(${`tag:${tenantId}:`} || lower(${name}), 0))::text`);
  }

  /** 409 if a tag other than `exceptId` has `name`. */
  private async conflict(name: string, exceptId: string | null): Promise<void> {
    const { tenantId } = currentTenant('TagsService.conflict');
    const [existing] = await this.db.query<{ id: string }>(Prisma.sql`
      SELECT "id" FROM "Tag"
       WHERE "tenantId" = ${tenantId}::uuid AND "name" = ${name}::citext
         AND (${exceptId}::uuid IS NULL OR "id" <> ${exceptId}::uuid)`);
    if (existing) {
      throw new DomainError(ErrorCode.Conflict, `a tag named "${name}" exists`, {
        existingId: existing.id,
        fields: [{ field: 'body.name', message: 'is taken by another tag' }],
      });
    }
  }

  /**
   * The named tags (case-insensitive), created when missing, in the order of `names`
   * (duplicates removed). Names are validated like `normaliseTagNames` (errors name
   * `field`). Joins an open transaction.
   */
  async ensure(names: readonly string[], field = 'body.tags'): Promise<TagRef[]> {
    const wanted = normaliseTagNames(names, field);
    if (wanted.length === 0) return [];
    const { tenantId } = currentTenant('TagsService.ensure');
    // Each input name with its tag, matched by the database's own (citext) comparison.
    const find = (names: readonly string[], create: boolean) =>
      this.db.query<{ input: string; id: string | null; name: string | null }>(Prisma.sql`
        WITH input AS (
          SELECT u.n, u.ord FROM unnest(${names}::text[]) WITH ORDINALITY AS u(n, ord)),
        created AS (
          INSERT INTO "Tag" ("tenantId", "id", "name")
          SELECT ${tenantId}::uuid, ibhq_uuidv7(), i.n::citext FROM input i WHERE ${create}::boolean
          ON CONFLICT ("tenantId", "name") DO NOTHING
          RETURNING "id", "name")
        SELECT i.n AS "input", COALESCE(c."id", t."id") AS "id",
               COALESCE(c."name", t."name")::text AS "name"
          FROM input i
          LEFT JOIN created c ON c."name" = i.n::citext
          LEFT JOIN "Tag" t ON t."tenantId" = ${tenantId}::uuid AND t."name" = i.n::citext
         ORDER BY i.ord`);
    const rows = await find(wanted, true);
    const missing = rows.filter((r) => r.id === null).map((r) => r.input);
    // A concurrent transaction created one of them after this statement's snapshot: it
    // is committed now (ON CONFLICT waited for it), so a new statement sees it.
    const late = missing.length > 0 ? await find(missing, false) : [];
    const byInput = new Map<string, TagRef>();
    for (const r of [...rows, ...late]) {
      if (r.id !== null && r.name !== null) byInput.set(r.input, { id: r.id, name: r.name });
    }
    const seen = new Set<string>();
    return wanted.flatMap((n) => {
      const tag = byInput.get(n);
      if (!tag || seen.has(tag.id)) return [];
      seen.add(tag.id);
      return [{ id: tag.id, name: tag.name }];
    });
  }

  /**
   * Makes the lead's tags exactly `names` (created when missing); answers the names
   * added and removed. Joins an open transaction.
   */
  async setForLead(
    leadId: string,
    names: readonly string[],
    field = 'body.tags',
  ): Promise<{ added: string[]; removed: string[] }> {
    const tags = await this.ensure(names, field);
    const { tenantId } = currentTenant('TagsService.setForLead');
    const ids = tags.map((t) => t.id);
    const rows = await this.db.query<{ name: string; change: 'added' | 'removed' }>(Prisma.sql`
      WITH removed AS (
        DELETE FROM "LeadTag" lt
         WHERE lt."tenantId" = ${tenantId}::uuid AND lt."leadId" = ${leadId}::uuid
           AND NOT (lt."tagId" = ANY(${ids}::uuid[]))
           AND EXISTS (SELECT 1 FROM "Lead" l
                        WHERE l."tenantId" = lt."tenantId" AND l."id" = lt."leadId")
        RETURNING lt."tagId"),
      added AS (
        INSERT INTO "LeadTag" ("tenantId", "leadId", "tagId")
        SELECT ${tenantId}::uuid, l."id", t
          FROM "Lead" l, unnest(${ids}::uuid[]) AS t
         WHERE l."tenantId" = ${tenantId}::uuid AND l."id" = ${leadId}::uuid
        ON CONFLICT DO NOTHING
        RETURNING "tagId")
      SELECT t."name"::text AS "name", c."change"
        FROM (SELECT "tagId", 'removed' AS "change" FROM removed
              UNION ALL SELECT "tagId", 'added' FROM added) c
        JOIN "Tag" t ON t."tenantId" = ${tenantId}::uuid AND t."id" = c."tagId"
       ORDER BY t."name"`);
    return {
      added: rows.filter((r) => r.change === 'added').map((r) => r.name),
      removed: rows.filter((r) => r.change === 'removed').map((r) => r.name),
    };
  }

  /**
   * Adds the named tags (created when missing) to every lead of `leadIds` the caller
   * can see (set-based); answers how many lead-tag pairs were added. Joins an open
   * transaction.
   */
  async addToLeads(
    leadIds: readonly string[],
    names: readonly string[],
    field = 'body.tags',
  ): Promise<number> {
    if (leadIds.length === 0) return 0;
    const tags = await this.ensure(names, field);
    if (tags.length === 0) return 0;
    const { tenantId } = currentTenant('TagsService.addToLeads');
    const rows = await this.db.query<{ count: number }>(Prisma.sql`
      WITH added AS (
        INSERT INTO "LeadTag" ("tenantId", "leadId", "tagId")
        SELECT ${tenantId}::uuid, l."id", t
          FROM "Lead" l, unnest(${tags.map((t) => t.id)}::uuid[]) AS t
         WHERE l."tenantId" = ${tenantId}::uuid AND l."id" = ANY(${[...leadIds]}::uuid[])
        ON CONFLICT DO NOTHING
        RETURNING 1)
      SELECT count(*)::int AS "count" FROM added`);
    return rows[0]?.count ?? 0;
  }

  /**
   * Removes the named tags from every lead of `leadIds` the caller can see; answers
   * how many lead-tag pairs were removed. Joins an open transaction.
   */
  async removeFromLeads(
    leadIds: readonly string[],
    names: readonly string[],
    field = 'body.tags',
  ): Promise<number> {
    const wanted = normaliseTagNames(names, field);
    if (leadIds.length === 0 || wanted.length === 0) return 0;
    const { tenantId } = currentTenant('TagsService.removeFromLeads');
    const rows = await this.db.query<{ count: number }>(Prisma.sql`
      WITH removed AS (
        DELETE FROM "LeadTag" lt
         USING "Tag" t, "Lead" l
         WHERE lt."tenantId" = ${tenantId}::uuid AND lt."leadId" = ANY(${[...leadIds]}::uuid[])
           AND t."tenantId" = lt."tenantId" AND t."id" = lt."tagId"
           AND t."name" = ANY(${wanted}::citext[])
           AND l."tenantId" = lt."tenantId" AND l."id" = lt."leadId"
        RETURNING 1)
      SELECT count(*)::int AS "count" FROM removed`);
    return rows[0]?.count ?? 0;
  }
}

/** A TagView of `"Tag" t`, counting the leads the caller can see (merged ones excluded). */
const TAG_COLUMNS = Prisma.raw(`t."id", t."name"::text AS "name", t."color", t."createdAt",
  (SELECT count(*)::int FROM "LeadTag" lt
     JOIN "Lead" l ON l."tenantId" = lt."tenantId" AND l."id" = lt."leadId"
    WHERE lt."tenantId" = t."tenantId" AND lt."tagId" = t."id" AND l."mergedIntoId" IS NULL
  ) AS "leadCount"`);
