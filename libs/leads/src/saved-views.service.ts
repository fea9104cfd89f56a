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
} from '@ibhq/core';
import { Prisma, TenantDb } from '@ibhq/db';
import { leadFilter, type LeadFilter } from './lead-filter.js';
import {
  type CreateSavedViewBody,
  LEAD_SORTS,
  type LeadSort,
  SAVED_VIEWS_PER_MEMBER,
  type SavedViewListQuery,
  type SavedViewView,
  type UpdateSavedViewBody,
} from './lead-list.dto.js';

/** Who is asking: the signed-in user (null for API keys) and their role in the tenant. */
export interface ViewReader {
  readonly userId: string | null;
  readonly role: 'owner' | 'admin' | 'agent' | 'viewer' | 'staff' | null;
}

interface ViewRow {
  id: string;
  userId: string;
  name: string;
  filter: unknown;
  shared: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** What the `filter` column holds: the filter and the view's order. */
interface StoredView {
  readonly filter: LeadFilter;
  readonly sort: LeadSort | null;
}

const VIEW_COLUMNS = Prisma.raw(
  `v."id", v."userId", v."name", v."filter", v."shared", v."createdAt", v."updatedAt"`,
);

/**
 * Saved views: a member's named list filter (and order), private to them or shared
 * with the tenant. Everyone sees their own and the shared ones; the author edits and
 * deletes a view, and owners and admins also shared ones. Another member's private
 * view does not exist for anyone else (404); a shared view someone may not change is
 * a 403. Changes to shared views are audited.
 */
@Injectable()
export class SavedViewsService {
  constructor(
    private readonly db: TenantDb,
    private readonly audit: AuditService,
  ) {}

  async list(reader: ViewReader, query: SavedViewListQuery): Promise<Page<SavedViewView>> {
    const { tenantId } = currentTenant('SavedViewsService.list');
    const limit = query.limit ?? 100;
    const conditions = [Prisma.sql`v."tenantId" = ${tenantId}::uuid`, visibleTo(reader)];
    if (query.cursor !== undefined) {
      const [name, id] = decodeCursor(query.cursor, ['string', 'uuid']);
      conditions.push(Prisma.sql`(v."name", v."id") > (${name}::text, ${id}::uuid)`);
    }
    const rows = await this.db.query<ViewRow>(
      Prisma.sql`SELECT ${VIEW_COLUMNS} FROM "SavedView" v
        WHERE ${Prisma.join(conditions, ' AND ')}
        ORDER BY v."name", v."id" LIMIT ${limit + 1}`,
    );
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items: items.map((row) => viewOf(row, reader)),
      nextCursor: rows.length > limit && last ? encodeCursor([last.name, last.id]) : null,
    };
  }

  async get(reader: ViewReader, id: string): Promise<SavedViewView> {
    return viewOf(await this.visible(reader, id), reader);
  }

  /** A view's filter and order, for the list (`viewId`): 404 unless the reader sees it. */
  async resolve(reader: ViewReader, id: string): Promise<StoredView> {
    return storedOf(await this.visible(reader, id));
  }

  async create(reader: ViewReader, body: CreateSavedViewBody): Promise<SavedViewView> {
    const userId = authorOf(reader);
    const { tenantId } = currentTenant('SavedViewsService.create');
    return this.db.transaction(async (tx) => {
      // One member's saves one at a time, so the limit holds under concurrency.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`saved-views:${tenantId}:${userId}`}, 0))`;
      const count = await tx.savedView.count({ where: { tenantId, userId } });
      if (count >= SAVED_VIEWS_PER_MEMBER) {
        throw new DomainError(
          ErrorCode.Conflict,
          `a member keeps at most ${String(SAVED_VIEWS_PER_MEMBER)} saved views: delete one first`,
          { limit: SAVED_VIEWS_PER_MEMBER },
        );
      }
      const row = await tx.savedView.create({
        data: {
          tenantId,
          userId,
          name: body.name,
          filter: storedJson({ filter: body.filter, sort: body.sort ?? null }),
          shared: body.shared ?? false,
        },
      });
      if (row.shared) await this.record('saved_view.created', row.id, { shared: true });
      return viewOf(row, reader);
    });
  }

  async update(reader: ViewReader, id: string, patch: UpdateSavedViewBody): Promise<SavedViewView> {
    const { tenantId } = currentTenant('SavedViewsService.update');
    return this.db.transaction(async () => {
      const current = await this.editable(reader, id, true);
      const stored = storedOf(current);
      const data: Prisma.SavedViewUpdateInput = {};
      if (patch.name !== undefined) data.name = patch.name;
      if (patch.shared !== undefined) data.shared = patch.shared;
      if (patch.filter !== undefined || patch.sort !== undefined) {
        data.filter = storedJson({
          filter: patch.filter ?? stored.filter,
          sort: patch.sort === undefined ? stored.sort : patch.sort,
        });
      }
      const row = await this.db.savedView.update({
        where: { tenantId_id: { tenantId, id } },
        data,
      });
      if (current.shared || row.shared) {
        await this.record('saved_view.updated', id, {
          shared: row.shared,
          fields: Object.keys(patch).sort(),
        });
      }
      return viewOf(row, reader);
    });
  }

  async remove(reader: ViewReader, id: string): Promise<void> {
    const { tenantId } = currentTenant('SavedViewsService.remove');
    await this.db.transaction(async () => {
      const current = await this.editable(reader, id, true);
      await this.db.savedView.delete({ where: { tenantId_id: { tenantId, id } } });
      if (current.shared) await this.record('saved_view.deleted', id, { shared: true });
    });
  }

  /** The view if the reader sees it (their own, or shared), else 404. */
  private async visible(reader: ViewReader, id: string, lock = false): Promise<ViewRow> {
    const { tenantId } = currentTenant('SavedViewsService');
    const [row] = await this.db.query<ViewRow>(
      Prisma.sql`SELECT ${VIEW_COLUMNS} FROM "SavedView" v
        WHERE v."tenantId" = ${tenantId}::uuid AND v."id" = ${id}::uuid AND ${visibleTo(reader)}
        ${lock ? Prisma.sql`FOR UPDATE` : Prisma.empty}`,
    );
    if (!row) throw new NotFoundError('saved view');
    return row;
  }

  /** The view if the reader may change it: 404 if they do not see it, 403 if they only see it. */
  private async editable(reader: ViewReader, id: string, lock: boolean): Promise<ViewRow> {
    const row = await this.visible(reader, id, lock);
    if (reader.role === 'staff') {
      throw new DomainError(ErrorCode.Forbidden, 'a staff session is read-only');
    }
    const author = reader.userId !== null && row.userId === reader.userId;
    const manager = row.shared && (reader.role === 'owner' || reader.role === 'admin');
    if (!author && !manager) {
      throw new DomainError(
        ErrorCode.Forbidden,
        'only its author (and, for a shared view, owners and admins) may change this view',
      );
    }
    return row;
  }

  private async record(action: string, id: string, metadata: Record<string, unknown>) {
    await this.audit.record({ action, targetType: 'saved_view', targetId: id, metadata });
  }
}

function visibleTo(reader: ViewReader): Prisma.Sql {
  return reader.userId === null
    ? Prisma.sql`v."shared"`
    : Prisma.sql`(v."shared" OR v."userId" = ${reader.userId}::uuid)`;
}

/** The member a new view belongs to: API keys and staff sessions save none. */
function authorOf(reader: ViewReader): string {
  if (reader.role === 'staff') {
    throw new DomainError(ErrorCode.Forbidden, 'a staff session is read-only');
  }
  if (reader.userId === null) {
    throw new DomainError(
      ErrorCode.Forbidden,
      'saved views belong to members: sign in as a member to save one',
    );
  }
  return reader.userId;
}

/** The stored form (dates as ISO strings), as Prisma takes JSON. */
function storedJson(view: StoredView): Prisma.InputJsonObject {
  return JSON.parse(JSON.stringify(view)) as Prisma.InputJsonObject;
}

function storedOf(row: Pick<ViewRow, 'filter'>): StoredView {
  const raw = (row.filter ?? {}) as { filter?: unknown; sort?: unknown };
  const parsed = leadFilter.safeParse(raw.filter ?? {});
  if (!parsed.success) {
    throw new DomainError(
      ErrorCode.Conflict,
      'this saved view’s filter is no longer valid: save it again with a new filter',
    );
  }
  const sort = (LEAD_SORTS as readonly unknown[]).includes(raw.sort)
    ? (raw.sort as LeadSort)
    : null;
  return { filter: parsed.data, sort };
}

function viewOf(row: ViewRow, reader: ViewReader): SavedViewView {
  const { filter, sort } = storedOf(row);
  return {
    id: row.id,
    name: row.name,
    filter,
    sort,
    shared: row.shared,
    userId: row.userId,
    mine: reader.userId !== null && row.userId === reader.userId,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
