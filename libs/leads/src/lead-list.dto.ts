import { z } from 'zod';
import { ValidationError, type FieldProblem, type Page } from '@ibhq/core';
import { leadFilter, leadFilterFromQuery, type LeadFilter } from './lead-filter.js';
import { noControlCharacters } from './lead-input.js';
import type { LeadView } from './lead-view.js';

/**
 * List orders: newest first by default. `stage` is the pipeline's order (the stage's
 * position); `name` is the display name. Ties break on the lead id, so every order is
 * total and keyset pages never repeat or skip a row.
 */
export const LEAD_SORTS = [
  '-createdAt',
  'createdAt',
  '-updatedAt',
  'updatedAt',
  'name',
  '-name',
  'stage',
  '-stage',
] as const;
export type LeadSort = (typeof LEAD_SORTS)[number];
export const leadSortField = z.enum(LEAD_SORTS);

export const LEAD_LIST_DEFAULT_LIMIT = 50;
export const LEAD_LIST_MAX_LIMIT = 200;
/** Longest cursor accepted (a name-sorted cursor carries a 200-character name). */
export const LEAD_CURSOR_MAX_LENGTH = 2048;

const limitField = z.int().min(1).max(LEAD_LIST_MAX_LIMIT);
const cursorField = z.string().min(1).max(LEAD_CURSOR_MAX_LENGTH);
/** `limit` as a query parameter (text): digits only, then the number's bounds. */
const limitParam = z
  .string()
  .regex(/^[0-9]{1,4}$/, 'must be a whole number from 1 to 200')
  .transform(Number)
  .pipe(limitField);

/** POST /v1/leads/search: the list with its filter in a JSON body. */
export const leadSearchBody = z.strictObject({
  filter: leadFilter.optional(),
  sort: leadSortField.optional(),
  limit: limitField.optional(),
  /** A page's `nextCursor` (null: the first page). */
  cursor: cursorField.nullable().optional(),
  /** Start from a saved view's filter and sort (the body's own conditions and sort win). */
  viewId: z.uuid().optional(),
});
export type LeadSearchBody = z.infer<typeof leadSearchBody>;

/** What the list service needs, from a query string or a body. */
export interface LeadListInput {
  readonly filter: LeadFilter;
  readonly sort?: LeadSort;
  readonly limit?: number;
  readonly cursor?: string;
  readonly viewId?: string;
  /** Where the input came from, to name fields in errors (`query.cursor`, `body.cursor`). */
  readonly source: 'query' | 'body';
}

/** The total of a list: exact up to a bound, else the planner's estimate. */
export interface LeadListTotal {
  readonly value: number;
  readonly exact: boolean;
}

export interface LeadListPage extends Page<LeadView> {
  readonly total: LeadListTotal;
}

/** The list's own query parameters (besides the filter's). */
const listParams = z.strictObject({
  sort: leadSortField.optional(),
  limit: limitParam.optional(),
  cursor: cursorField.optional(),
  viewId: z.uuid().optional(),
});
const LIST_PARAM_NAMES = Object.keys(listParams.shape);

/**
 * GET /v1/leads's query string: the filter parameters (see leadFilterFromQuery) and
 * `sort`, `limit`, `cursor`, `viewId`. Each may be given once; errors name the
 * parameter (`query.limit`).
 */
export function leadListQueryFrom(
  query: Readonly<Record<string, unknown>> | null | undefined,
): LeadListInput {
  const own: Record<string, unknown> = {};
  const problems: FieldProblem[] = [];
  for (const name of LIST_PARAM_NAMES) {
    const value = query?.[name];
    if (value === undefined || value === '') continue;
    if (typeof value !== 'string') {
      problems.push({ field: `query.${name}`, message: 'must be given once' });
      continue;
    }
    own[name] = value;
  }
  let filter: LeadFilter = {};
  try {
    filter = leadFilterFromQuery(query, { allow: LIST_PARAM_NAMES });
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    problems.push(...e.fields);
  }
  const parsed = listParams.safeParse(own);
  if (!parsed.success) {
    problems.push(
      ...parsed.error.issues.map((issue) => ({
        field: ['query', ...issue.path.map(String)].join('.'),
        message: issue.message,
      })),
    );
  }
  if (problems.length > 0 || !parsed.success) throw new ValidationError(problems);
  return { filter, ...parsed.data, source: 'query' };
}

// ---------------------------------------------------------------------------
// Saved views
// ---------------------------------------------------------------------------

const viewName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .refine(noControlCharacters, 'must not contain control characters');

export const createSavedViewBody = z.strictObject({
  name: viewName,
  filter: leadFilter,
  sort: leadSortField.optional(),
  /** Shared with every member of the tenant (default: private to its author). */
  shared: z.boolean().optional(),
});
export type CreateSavedViewBody = z.infer<typeof createSavedViewBody>;

export const updateSavedViewBody = z
  .strictObject({
    name: viewName.optional(),
    filter: leadFilter.optional(),
    /** null: back to the list's default order. */
    sort: leadSortField.nullable().optional(),
    shared: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'nothing to change: give name, filter, sort or shared');
export type UpdateSavedViewBody = z.infer<typeof updateSavedViewBody>;

export const savedViewListQuery = z.strictObject({
  limit: limitParam.optional(),
  cursor: cursorField.optional(),
});
export type SavedViewListQuery = z.infer<typeof savedViewListQuery>;

export const savedViewIdParam = z.uuid();

/** A saved view as the API shows it. */
export interface SavedViewView {
  readonly id: string;
  readonly name: string;
  readonly filter: LeadFilter;
  readonly sort: LeadSort | null;
  readonly shared: boolean;
  /** The member who saved it. */
  readonly userId: string;
  /** Saved by the caller. */
  readonly mine: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Saved views a member may keep. */
export const SAVED_VIEWS_PER_MEMBER = 100;
