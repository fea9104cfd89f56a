import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { currentTenant, isUuid, ValidationError } from '@ibhq/core';
import { Prisma, TenantDb, type ScopedQuery } from '@ibhq/db';
import { LEAD_SEARCH_SETTINGS_SQL, leadFilterSql, type LeadFilter } from './lead-filter.js';
import {
  LEAD_CURSOR_MAX_LENGTH,
  LEAD_LIST_DEFAULT_LIMIT,
  type LeadListInput,
  type LeadListPage,
  type LeadListTotal,
  type LeadSort,
} from './lead-list.dto.js';
import { LEAD_VIEW_COLUMNS, type LeadView } from './lead-view.js';
import { SavedViewsService, type ViewReader } from './saved-views.service.js';

/** The sort key of a page's last row: [value, id], or [position, stageId, id] for `stage`. */
export type SortKey = (string | number)[];

export type Order =
  | {
      readonly kind: 'date' | 'text';
      /** The column of `"Lead" l` sorted on before the id. */
      readonly field: 'createdAt' | 'updatedAt' | 'displayName';
      readonly descending: boolean;
    }
  | { readonly kind: 'stage'; readonly descending: boolean };

export const LEAD_LIST_ORDERS: Readonly<Record<LeadSort, Order>> = {
  '-createdAt': { kind: 'date', field: 'createdAt', descending: true },
  createdAt: { kind: 'date', field: 'createdAt', descending: false },
  '-updatedAt': { kind: 'date', field: 'updatedAt', descending: true },
  updatedAt: { kind: 'date', field: 'updatedAt', descending: false },
  name: { kind: 'text', field: 'displayName', descending: false },
  '-name': { kind: 'text', field: 'displayName', descending: true },
  stage: { kind: 'stage', descending: false },
  '-stage': { kind: 'stage', descending: true },
};

type Row = LeadView & { _pos?: number };

/**
 * Free text over an ordered page: first look for the page among the next `first`
 * leads in the page's order, testing each (it stops when the page is full); if the
 * matches seen are dense enough to fill the page within `max` leads, walk that far;
 * else gather every match from the search indexes (fast when few leads match).
 */
export interface ScanWindow {
  readonly first: number;
  readonly max: number;
}
export const DEFAULT_SCAN_WINDOW: ScanWindow = { first: 300, max: 5_000 };

/** One page of the list, as findLeadPage takes it. */
export interface LeadPageQuery {
  readonly filter: LeadFilter;
  /** leadFilterSql(filter) for this tenant. */
  readonly where: Prisma.Sql;
  readonly order: Order;
  readonly after: SortKey | undefined;
  /** Rows wanted (the page's limit and one more, which tells whether a next page exists). */
  readonly take: number;
  readonly tenantId: string;
}

/**
 * The statements of one page, in the caller's transaction (the tenant already set):
 * the search settings, then a keyset page, by the strategy ScanWindow describes when
 * the filter has free text. Exported for the bench's bare-pg anchor, which runs the
 * very same statements.
 */
export async function findLeadPage(
  query: ScopedQuery,
  page: LeadPageQuery,
  window: ScanWindow = DEFAULT_SCAN_WINDOW,
): Promise<Row[]> {
  const { filter, where, order, after, take, tenantId } = page;
  await query(LEAD_SEARCH_SETTINGS_SQL);
  if (order.kind === 'stage') {
    return query<Row>(stagePageSql(tenantId, where, order.descending, after, take));
  }
  if (filter.q !== undefined) {
    // The leads after the cursor in the page's order, each tested against the text:
    // a short look first; if matches are dense enough to fill the page within the
    // longest walk, the walk that should fill it; else gather the matches.
    const { q: _, ...rest } = filter;
    const others = leadFilterSql(rest, { tenantId });
    const text = leadFilterSql({ q: filter.q }, { tenantId, textSearch: 'row' });
    const walk = (size: number) => query<Row>(scanPageSql(others, text, order, after, take, size));
    const probe = await walk(window.first);
    if (probe.length >= take) return probe;
    if (probe.length > 0) {
      const needed = Math.ceil(((take * window.first) / probe.length) * 1.5);
      if (needed <= window.max) {
        const walked = await walk(needed);
        if (walked.length >= take) return walked;
      }
    }
  }
  return query<Row>(pageSql(where, order, after, take));
}

/**
 * The lead list: the shared filter, an order, keyset pages and a total.
 *
 * Pages are keyset pages over an index that leads with tenantId: (createdAt, id),
 * (updatedAt, id), (displayName, id), and for the pipeline order one keyset walk per
 * stage over (stageId, id), in the stages' order. The cursor carries the sort it was
 * made for and the last row's key, bound to the tenant by a digest, so a cursor of
 * another order, another tenant or a hand-edited one is a 400 naming the field.
 * Rows inserted while a caller walks the pages never make it repeat or skip a row
 * that existed when it started (a row whose sort key changes under it, such as
 * updatedAt, moves to its new place).
 *
 * The total is exact up to `exactTotalLimit` matches (a count over a LIMITed
 * subquery, given `exactTotalBudgetMs`), else the planner's estimate (at least the
 * bound when the count passed it, never fewer than the page shows), flagged
 * exact: false.
 */
@Injectable()
export class LeadListService {
  /** Matches counted exactly; above it the total is an estimate. Tests change it. */
  exactTotalLimit = 10_000;
  /**
   * Longest the exact count may take (ms); past it the total is the estimate. A
   * count walks up to `exactTotalLimit` matches, which a filter without an index
   * (a custom field range, a common word) can make slow on a large tenant.
   */
  exactTotalBudgetMs = 30;
  /** How far free text walks an ordered index before gathering (see findLeadPage). */
  scanWindow: ScanWindow = DEFAULT_SCAN_WINDOW;

  constructor(
    private readonly db: TenantDb,
    private readonly views: SavedViewsService,
  ) {}

  async list(input: LeadListInput, reader: ViewReader): Promise<LeadListPage> {
    let filter = input.filter;
    let sort = input.sort;
    if (input.viewId !== undefined) {
      const view = await this.views.resolve(reader, input.viewId);
      filter = { ...view.filter, ...input.filter };
      sort ??= view.sort ?? undefined;
    }
    sort ??= '-createdAt';
    const limit = input.limit ?? LEAD_LIST_DEFAULT_LIMIT;
    const { tenantId } = currentTenant('LeadListService.list');
    const order = LEAD_LIST_ORDERS[sort];
    const after =
      input.cursor === undefined
        ? undefined
        : decodeListCursor(input.cursor, sort, tenantId, `${input.source}.cursor`);
    const where = leadFilterSql(filter, { tenantId });

    const [rows, total] = await Promise.all([
      this.db.rawTransaction((query) =>
        findLeadPage(
          query,
          { filter, where, order, after, take: limit + 1, tenantId },
          this.scanWindow,
        ),
      ),
      this.total(where, leadFilterSql(filter, { tenantId, textSearch: 'row' })),
    ]);

    const items = rows.slice(0, limit);
    const last = items.at(-1);
    const nextCursor =
      rows.length > limit && last ? encodeListCursor(sort, keyOf(last, order), tenantId) : null;
    // An estimate never claims fewer leads than this page shows.
    const shown = items.length + (nextCursor ? 1 : 0);
    return {
      items: items.map(stripPosition),
      nextCursor,
      total: total.exact ? total : { value: Math.max(total.value, shown), exact: false },
    };
  }

  /**
   * Exact up to `exactTotalLimit` matches (counted within `exactTotalBudgetMs`), else
   * the planner's estimate, flagged `exact: false`. A planner estimate far above the
   * bound is answered as it is, without counting. The estimate is of `estimateWhere`,
   * the same filter with its free text as a per-lead condition, whose selectivity the
   * planner reads from the column statistics (it cannot see into gathered ids).
   */
  private async total(where: Prisma.Sql, estimateWhere: Prisma.Sql): Promise<LeadListTotal> {
    const bound = this.exactTotalLimit;
    // One transaction: the estimate, then (unless it is far above the bound) the count,
    // whose timeout cancels the transaction and leaves the estimate as the answer.
    let estimate = 0;
    let counting = false as boolean; // set inside the callback
    try {
      return await this.db.rawTransaction(async (query): Promise<LeadListTotal> => {
        await query(LEAD_SEARCH_SETTINGS_SQL);
        const [plan] = await query<{ 'QUERY PLAN': unknown }>(
          Prisma.sql`EXPLAIN (FORMAT JSON) SELECT 1 FROM "Lead" l WHERE ${estimateWhere}`,
        );
        estimate = planRows(plan?.['QUERY PLAN']);
        if (estimate > bound * 4) return { value: estimate, exact: false };
        await query(
          Prisma.sql`SELECT set_config('statement_timeout', ${String(this.exactTotalBudgetMs)}, true)`,
        );
        counting = true;
        const [counted] = await query<{ n: number }>(
          Prisma.sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM "Lead" l WHERE ${where} LIMIT ${bound + 1}) x`,
        );
        const n = counted?.n ?? 0;
        if (n <= bound) return { value: n, exact: true };
        return { value: Math.max(bound + 1, estimate), exact: false };
      });
    } catch (e) {
      if (!counting || !isStatementTimeout(e)) throw e;
      return { value: estimate, exact: false };
    }
  }
}

/** PostgreSQL's query_canceled (statement_timeout), through node-postgres or Prisma. */
function isStatementTimeout(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  return code === '57014' || /canceling statement due to statement timeout/.test(e.message);
}

/** The top plan node's row estimate from EXPLAIN (FORMAT JSON). */
function planRows(plan: unknown): number {
  const doc: unknown = typeof plan === 'string' ? JSON.parse(plan) : plan;
  const top = Array.isArray(doc) ? (doc[0] as { Plan?: { 'Plan Rows'?: unknown } }) : undefined;
  const rows = top?.Plan?.['Plan Rows'];
  return typeof rows === 'number' && Number.isFinite(rows) ? Math.round(rows) : 0;
}

function pageSql(
  where: Prisma.Sql,
  order: Extract<Order, { field: string }>,
  after: SortKey | undefined,
  take: number,
): Prisma.Sql {
  const column = Prisma.raw(`l."${order.field}"`);
  const dir = Prisma.raw(order.descending ? 'DESC' : 'ASC');
  const conditions = [where];
  const keyset = keysetSql(order, after);
  if (keyset) conditions.push(keyset);
  return Prisma.sql`SELECT ${LEAD_VIEW_COLUMNS} FROM "Lead" l
    WHERE ${Prisma.join(conditions, ' AND ')}
    ORDER BY ${column} ${dir}, l."id" ${dir}
    LIMIT ${take}`;
}

/**
 * The page found by walking the order's index: the leads of the filter without its
 * free text, after the cursor and in order, tested one by one against the text until
 * `take` match, looking at `window` leads at most. Complete if it holds `take` rows.
 */
function scanPageSql(
  rest: Prisma.Sql,
  text: Prisma.Sql,
  order: Extract<Order, { field: string }>,
  after: SortKey | undefined,
  take: number,
  window: number,
): Prisma.Sql {
  const column = Prisma.raw(`l."${order.field}"`);
  const dir = Prisma.raw(order.descending ? 'DESC' : 'ASC');
  const conditions = [rest];
  const keyset = keysetSql(order, after);
  if (keyset) conditions.push(keyset);
  // The inner order carries through the subquery, so the executor stops reading it as
  // soon as `take` rows passed the text test.
  return Prisma.sql`SELECT ${LEAD_VIEW_COLUMNS} FROM (
      SELECT l.* FROM "Lead" l
       WHERE ${Prisma.join(conditions, ' AND ')}
       ORDER BY ${column} ${dir}, l."id" ${dir}
       LIMIT ${window}) l
    WHERE ${text}
    ORDER BY ${column} ${dir}, l."id" ${dir}
    LIMIT ${take}`;
}

/** Rows after the cursor in the order's direction. */
function keysetSql(
  order: Extract<Order, { field: string }>,
  after: SortKey | undefined,
): Prisma.Sql | undefined {
  if (!after) return undefined;
  const column = Prisma.raw(`l."${order.field}"`);
  const [value, id] = after;
  const cmp = Prisma.raw(order.descending ? '<' : '>');
  const typed =
    order.kind === 'date' ? Prisma.sql`${value}::timestamptz` : Prisma.sql`${value}::text`;
  return Prisma.sql`(${column}, l."id") ${cmp} (${typed}, ${id}::uuid)`;
}

/**
 * The pipeline order: the tenant's stages by position (then id), and in each the
 * leads by id, one keyset walk over ("tenantId", "stageId", id) per stage. Each walk
 * stops at `take` rows, so the final sort handles at most stages × take rows.
 */
function stagePageSql(
  tenantId: string,
  where: Prisma.Sql,
  descending: boolean,
  after: SortKey | undefined,
  take: number,
): Prisma.Sql {
  const dir = Prisma.raw(descending ? 'DESC' : 'ASC');
  const stageConditions = [Prisma.sql`st."tenantId" = ${tenantId}::uuid`];
  const leadConditions = [where, Prisma.sql`l."stageId" = s."sid"`];
  if (after) {
    const [position, stageId, id] = after;
    stageConditions.push(
      Prisma.sql`(st."position", st."id") ${Prisma.raw(descending ? '<=' : '>=')} (${position}::int, ${stageId}::uuid)`,
    );
    leadConditions.push(
      Prisma.sql`(s."sid" <> ${stageId}::uuid OR l."id" ${Prisma.raw(descending ? '<' : '>')} ${id}::uuid)`,
    );
  }
  // The walks pick ids only; the view's columns (stage name, tags) are read for the
  // page's rows alone.
  return Prisma.sql`SELECT ${LEAD_VIEW_COLUMNS}, p."spos" AS "_pos" FROM (
      SELECT x."id", s."sid", s."spos" FROM (
        SELECT st."id" AS "sid", st."position" AS "spos" FROM "Stage" st
         WHERE ${Prisma.join(stageConditions, ' AND ')}
      ) s
      CROSS JOIN LATERAL (
        SELECT l."id" FROM "Lead" l
         WHERE ${Prisma.join(leadConditions, ' AND ')}
         ORDER BY l."id" ${dir}
         LIMIT ${take}
      ) x
      ORDER BY s."spos" ${dir}, s."sid" ${dir}, x."id" ${dir}
      LIMIT ${take}
    ) p
    JOIN "Lead" l ON l."tenantId" = ${tenantId}::uuid AND l."id" = p."id"
    ORDER BY p."spos" ${dir}, p."sid" ${dir}, l."id" ${dir}`;
}

function keyOf(row: Row, order: Order): SortKey {
  if (order.kind === 'stage') return [row._pos ?? 0, row.stageId, row.id];
  if (order.field === 'displayName') return [row.displayName, row.id];
  return [new Date(row[order.field]).toISOString(), row.id];
}

function stripPosition(row: Row): LeadView {
  if (!('_pos' in row)) return row;
  const { _pos: _, ...view } = row;
  return view;
}

// ---------------------------------------------------------------------------
// Cursors: base64url of JSON [sort, ...key, digest]. The digest binds the cursor to
// its tenant and sort (it is not a secret: a cursor only says where to resume, and
// row-level security still confines the query), so a cursor from elsewhere, for
// another order, or edited by hand is refused instead of resuming somewhere odd.
// ---------------------------------------------------------------------------

function digest(sort: LeadSort, key: SortKey, tenantId: string): string {
  return createHash('sha256')
    .update(JSON.stringify([tenantId, sort, key]))
    .digest('base64url')
    .slice(0, 16);
}

export function encodeListCursor(sort: LeadSort, key: SortKey, tenantId: string): string {
  return Buffer.from(JSON.stringify([sort, ...key, digest(sort, key, tenantId)])).toString(
    'base64url',
  );
}

/**
 * An instant exactly as keyOf writes it (toISOString): Date.parse alone takes forms
 * such as "1" or "2020-01-01 (x)" that PostgreSQL's timestamptz refuses (a 500).
 */
function isIsoInstant(text: string): boolean {
  const ms = Date.parse(text);
  return !Number.isNaN(ms) && new Date(ms).toISOString() === text;
}

export function decodeListCursor(
  cursor: string,
  sort: LeadSort,
  tenantId: string,
  field: string,
): SortKey {
  const fail = (message = 'is not a valid cursor') => new ValidationError([{ field, message }]);
  if (cursor.length > LEAD_CURSOR_MAX_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw fail();
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw fail();
  }
  if (!Array.isArray(parts) || parts.length < 2) throw fail();
  const [madeFor, ...rest] = parts as unknown[];
  if (madeFor !== sort) {
    throw fail(
      typeof madeFor === 'string'
        ? 'was made for another sort order: start again without a cursor'
        : 'is not a valid cursor',
    );
  }
  const tag = rest.pop();
  const key = rest;
  const kind = LEAD_LIST_ORDERS[sort].kind;
  const valid =
    kind === 'stage'
      ? key.length === 3 &&
        typeof key[0] === 'number' &&
        Number.isInteger(key[0]) &&
        Math.abs(key[0]) < 2 ** 31 &&
        isUuid(key[1]) &&
        isUuid(key[2])
      : key.length === 2 &&
        typeof key[0] === 'string' &&
        isUuid(key[1]) &&
        (kind === 'text'
          ? key[0].length <= 200 && !key[0].includes('\u0000')
          : isIsoInstant(key[0]));
  if (!valid || typeof tag !== 'string') throw fail();
  if (tag !== digest(sort, key as SortKey, tenantId)) throw fail();
  return key as SortKey;
}
