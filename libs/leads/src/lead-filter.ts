import { z } from 'zod';
import { currentTenantOrUndefined, ValidationError, type FieldProblem } from '@ibhq/core';
import { Prisma } from '@ibhq/db';
import { LEAD_SOURCES } from './lead-view.js';

/** Text PostgreSQL can hold (no NUL character), at most `max` characters. */
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');

/** A custom field condition: a value (equal; any of, for a list), or a range. */
const customCondition = z.union([
  text(200),
  z.number(),
  z.boolean(),
  z
    .array(z.union([text(200), z.number()]))
    .min(1)
    .max(50),
  z
    .strictObject({
      gte: z.union([z.number(), z.iso.date(), z.iso.datetime()]).optional(),
      lte: z.union([z.number(), z.iso.date(), z.iso.datetime()]).optional(),
    })
    .refine((r) => r.gte !== undefined || r.lte !== undefined, 'needs gte or lte'),
]);
type CustomCondition = z.infer<typeof customCondition>;

/**
 * Which leads: the one filter shared by the list, saved views, bulk work and export
 * (so "export what I see" and "update what I see" select exactly the listed leads).
 * Conditions combine with AND; a list inside one condition means any of its values.
 */
export const leadFilter = z.strictObject({
  /** Free text over name, username, phone, e-mail and notes; partial and misspelled words match. */
  q: text(200).trim().min(1).optional(),
  stageIds: z.array(z.uuid()).min(1).max(100).optional(),
  /** Owner user ids; `none` selects unassigned leads. */
  ownerIds: z
    .array(z.union([z.uuid(), z.literal('none')]))
    .min(1)
    .max(100)
    .optional(),
  tags: z.array(text(50).trim().min(1)).min(1).max(50).optional(),
  /** `any` (default): at least one of `tags`; `all`: every one of them. */
  tagMode: z.enum(['any', 'all']).optional(),
  sources: z.array(z.enum(LEAD_SOURCES)).min(1).max(LEAD_SOURCES.length).optional(),
  createdFrom: z.coerce.date().optional(),
  createdTo: z.coerce.date().optional(),
  updatedFrom: z.coerce.date().optional(),
  updatedTo: z.coerce.date().optional(),
  hasTelegram: z.boolean().optional(),
  hasPhone: z.boolean().optional(),
  hasEmail: z.boolean().optional(),
  /** By custom field key. */
  customFields: z
    .record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/), customCondition)
    .refine((r) => Object.keys(r).length <= 20, 'at most 20 custom field conditions')
    .optional(),
});
export type LeadFilter = z.infer<typeof leadFilter>;

/**
 * The least `word_similarity` between the query and a lead's search text for a
 * misspelled word to match: "Petorv" finds "Petrov" (0.43), "Jonh Smith" finds
 * "John Smith" (0.73). pg_trgm's default (0.6) forgives too little; 0.3 lets every
 * name sharing two first letters match a short query ("Maxim" and "Maria", 0.33).
 */
export const LEAD_SEARCH_WORD_SIMILARITY = 0.4;

/**
 * Run this first in the transaction of any statement that uses `leadFilterSql`: it
 * sets the misspelling tolerance the `<%` operator (and its trigram index) uses, and
 * turns JIT compilation off (its compile time dwarfs these index-driven queries), for
 * this transaction only. Without it the filter still works, with pg_trgm's stricter
 * default tolerance.
 */
export const LEAD_SEARCH_SETTINGS_SQL = Prisma.sql`SELECT set_config('pg_trgm.word_similarity_threshold', ${String(LEAD_SEARCH_WORD_SIMILARITY)}, true), set_config('jit', 'off', true)`;

/** Fuzzy (misspelling) matching only for queries at least this long: shorter ones match anything. */
const FUZZY_MIN_LENGTH = 4;

export interface LeadFilterSqlOptions {
  /**
   * The tenant, written into the conditions so indexes (which lead with tenantId)
   * are used. Defaults to the current tenant context; row-level security confines
   * the rows either way.
   */
  readonly tenantId?: string;
  /**
   * How the free text `q` is matched (the same rows either way): `gather` (default)
   * collects the matching ids from the trigram and full-text indexes, best when few
   * leads match; `row` tests each lead in turn, best when walking an ordered index
   * towards a LIMIT through leads of which many match.
   */
  readonly textSearch?: 'gather' | 'row';
}

/**
 * The filter as an SQL condition over `"Lead" l` (always excluding merged leads'
 * tombstones). Row-level security has already confined `l` to the tenant (and, for
 * agents who see only their own leads, to theirs).
 */
export function leadFilterSql(filter: LeadFilter, options: LeadFilterSqlOptions = {}): Prisma.Sql {
  const tenantId = options.tenantId ?? currentTenantOrUndefined()?.tenantId;
  const tenant = tenantId
    ? Prisma.sql`${tenantId}::uuid`
    : Prisma.sql`NULLIF(current_setting('app.tenant_id', true), '')::uuid`;
  const where: Prisma.Sql[] = [Prisma.sql`l."mergedIntoId" IS NULL`];
  if (tenantId) where.push(Prisma.sql`l."tenantId" = ${tenant}`);

  if (filter.stageIds) where.push(Prisma.sql`l."stageId" = ANY(${filter.stageIds}::uuid[])`);
  if (filter.ownerIds) {
    const ids = filter.ownerIds.filter((id) => id !== 'none');
    const none = ids.length < filter.ownerIds.length;
    const anyOf: Prisma.Sql[] = [];
    if (ids.length > 0) anyOf.push(Prisma.sql`l."ownerId" = ANY(${ids}::uuid[])`);
    if (none) anyOf.push(Prisma.sql`l."ownerId" IS NULL`);
    where.push(Prisma.sql`(${Prisma.join(anyOf, ' OR ')})`);
  }
  if (filter.tags) where.push(tagsSql(filter.tags, filter.tagMode ?? 'any'));
  if (filter.sources) {
    where.push(Prisma.sql`l."source" = ANY(${filter.sources}::"LeadSource"[])`);
  }
  if (filter.createdFrom) where.push(Prisma.sql`l."createdAt" >= ${filter.createdFrom}`);
  if (filter.createdTo) where.push(Prisma.sql`l."createdAt" <= ${filter.createdTo}`);
  if (filter.updatedFrom) where.push(Prisma.sql`l."updatedAt" >= ${filter.updatedFrom}`);
  if (filter.updatedTo) where.push(Prisma.sql`l."updatedAt" <= ${filter.updatedTo}`);
  if (filter.hasTelegram !== undefined) {
    where.push(
      filter.hasTelegram
        ? Prisma.sql`(l."telegramUserId" IS NOT NULL OR l."telegramUsername" IS NOT NULL)`
        : Prisma.sql`(l."telegramUserId" IS NULL AND l."telegramUsername" IS NULL)`,
    );
  }
  if (filter.hasPhone !== undefined) {
    where.push(filter.hasPhone ? Prisma.sql`l."phone" IS NOT NULL` : Prisma.sql`l."phone" IS NULL`);
  }
  if (filter.hasEmail !== undefined) {
    where.push(filter.hasEmail ? Prisma.sql`l."email" IS NOT NULL` : Prisma.sql`l."email" IS NULL`);
  }
  for (const [key, condition] of Object.entries(filter.customFields ?? {})) {
    where.push(customFieldSql(key, condition));
  }
  if (filter.q !== undefined) {
    where.push(
      options.textSearch === 'row' ? freeTextRowSql(filter.q) : freeTextSql(filter.q, tenant),
    );
  }
  return Prisma.join(where, ' AND ');
}

/** Tag names compare case-insensitively (citext): any of them, or each of them. */
function tagsSql(tags: readonly string[], mode: 'any' | 'all'): Prisma.Sql {
  const has = (names: readonly string[]) =>
    Prisma.sql`EXISTS (SELECT 1 FROM "LeadTag" lt
      JOIN "Tag" t ON t."tenantId" = lt."tenantId" AND t."id" = lt."tagId"
      WHERE lt."tenantId" = l."tenantId" AND lt."leadId" = l."id"
        AND t."name" = ANY(${names}::citext[]))`;
  if (mode === 'any') return has(tags);
  const distinct = [...new Map(tags.map((t) => [t.toLowerCase(), t])).values()];
  return Prisma.sql`(${Prisma.join(
    distinct.map((t) => has([t])),
    ' AND ',
  )})`;
}

/**
 * The JSON values one filter value matches: itself, its text or number or boolean
 * twin (a query string only carries text), as a scalar (text, number, date, boolean,
 * single select) or inside an array (multi select).
 */
function forms(value: string | number | boolean): (string | number | boolean)[] {
  if (typeof value === 'number') return [value, String(value)];
  if (typeof value === 'boolean') return [value, String(value)];
  const out: (string | number | boolean)[] = [value];
  if (NUMBER.test(value)) out.push(Number(value));
  if (value === 'true' || value === 'false') out.push(value === 'true');
  return out;
}

function customFieldSql(key: string, condition: CustomCondition): Prisma.Sql {
  if (typeof condition === 'object' && !Array.isArray(condition)) {
    const value = Prisma.sql`(l."customFields" ->> ${key})`;
    const parts: Prisma.Sql[] = [];
    for (const [op, bound] of [
      ['>=', condition.gte],
      ['<=', condition.lte],
    ] as const) {
      if (bound === undefined) continue;
      const cmp = Prisma.raw(op);
      if (typeof bound === 'number') {
        // Only numbers compare as numbers (a text value never reaches the cast).
        parts.push(Prisma.sql`(CASE WHEN jsonb_typeof(l."customFields" -> ${key}) = 'number'
          THEN ${value}::numeric END) ${cmp} ${bound}::numeric`);
      } else {
        // Dates are stored as YYYY-MM-DD: they compare as text, by day.
        parts.push(Prisma.sql`(CASE WHEN ${value} ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}'
          THEN left(${value}, 10) END) COLLATE "C" ${cmp} ${bound.slice(0, 10)}::text`);
      }
    }
    return Prisma.sql`(${Prisma.join(parts, ' AND ')})`;
  }
  const values = Array.isArray(condition) ? condition : [condition];
  const documents = new Set<string>();
  for (const v of values) {
    for (const form of forms(v)) {
      documents.add(JSON.stringify({ [key]: form }));
      documents.add(JSON.stringify({ [key]: [form] }));
    }
  }
  // Each containment uses the jsonb_path_ops GIN index (a BitmapOr of them).
  return Prisma.sql`(${Prisma.join(
    [...documents].map((doc) => Prisma.sql`l."customFields" @> ${doc}::jsonb`),
    ' OR ',
  )})`;
}

/** `%`, `_` and `\` taken literally in a LIKE pattern. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * The query and its other common Latin spellings of Russian names (Aleksandr and
 * Alexander, Maksim and Maxim): trigram similarity alone rates such pairs barely
 * above the threshold.
 */
function spellings(text: string): string[] {
  const out = new Set([text]);
  if (text.includes('ks')) out.add(text.replaceAll('ks', 'x'));
  if (text.includes('x')) out.add(text.replaceAll('x', 'ks'));
  return [...out];
}

/** The free text as matched against one lead's search text (`alias`."searchText"). */
interface TextMatch {
  readonly text: string;
  readonly pattern: string;
  onLead(alias: string): Prisma.Sql;
}

function textMatch(q: string): TextMatch {
  // "@username" is how people write a Telegram username; the search text has it bare.
  const text = q
    .trim()
    .toLowerCase()
    .replace(/^@(?=\S)/, '');
  const pattern = `%${escapeLike(text)}%`;
  const phoneLike = /^[0-9+\s().-]+$/.test(text);
  // "+44 7911 123456", "07911-123-456", "0044 7911...": the national digits, which the
  // E.164 phone in the search text contains.
  const digits = phoneLike
    ? text
        .replace(/\(0\)/g, '')
        .replace(/[^0-9]/g, '')
        .replace(/^0+/, '')
    : '';
  return {
    text,
    pattern,
    onLead(alias) {
      const column = Prisma.raw(`${alias}."searchText"`);
      // Cheapest first: OR stops at the first condition that holds.
      if (phoneLike) {
        const parts: Prisma.Sql[] = [Prisma.sql`${column} ILIKE ${pattern}`];
        if (digits.length >= 3) parts.push(Prisma.sql`${column} LIKE ${`%${digits}%`}`);
        return Prisma.join(parts, ' OR ');
      }
      // Every word, as a part of the text or (from four letters) a slightly misspelled
      // word of it: "oksanna khan" finds Oksana Khan, not every Khan (a similarity of
      // the whole query would be met by "khan" alone), and the words' index scans
      // intersect.
      const words = text.split(/\s+/).map((word) => {
        const parts: Prisma.Sql[] = [Prisma.sql`${column} ILIKE ${`%${escapeLike(word)}%`}`];
        if (word.length >= FUZZY_MIN_LENGTH) {
          for (const variant of spellings(word)) parts.push(Prisma.sql`${variant} <% ${column}`);
        }
        return Prisma.sql`(${Prisma.join(parts, ' OR ')})`;
      });
      return Prisma.join(words, ' AND ');
    },
  };
}

/** A note of the lead's whose words (full text) or part of whose text match. */
function noteMatchSql(match: TextMatch): Prisma.Sql {
  return Prisma.sql`a."kind" = 'note' AND a."deletedAt" IS NULL
       AND (to_tsvector('simple', a."body") @@ plainto_tsquery('simple', ${match.text})
            OR a."body" ILIKE ${match.pattern})`;
}

/**
 * Free text: a substring of the search text (name, username, phone, e-mail), a
 * misspelled word of it (trigram word similarity), the digits of a phone however
 * they are written, or a note's words (full text) or part of one. Here the matching
 * ids are gathered by a union of index scans (trigram on Lead.searchText and
 * LeadActivity.body, full text on notes), not by testing every lead.
 */
function freeTextSql(q: string, tenant: Prisma.Sql): Prisma.Sql {
  const match = textMatch(q);
  // = ANY(ARRAY(...)): the ids are gathered once (an InitPlan). As `IN (...)`, stale
  // statistics (fresh leads before ANALYZE) let the planner re-run the union for every
  // lead: minutes instead of milliseconds. UNION ALL: duplicates do not matter to ANY.
  return Prisma.sql`l."id" = ANY(ARRAY(
    SELECT s."id" FROM "Lead" s
     WHERE s."tenantId" = ${tenant} AND (${match.onLead('s')})
    UNION ALL
    SELECT a."leadId" FROM "LeadActivity" a
     WHERE a."tenantId" = ${tenant} AND ${noteMatchSql(match)}))`;
}

/**
 * The same condition tested on the lead `l` itself, and its notes through their
 * (tenantId, leadId, ...) index. `OFFSET 0` keeps the planner from turning the
 * EXISTS into one hash of every matching note of the tenant, which a common word
 * makes large.
 */
function freeTextRowSql(q: string): Prisma.Sql {
  const match = textMatch(q);
  return Prisma.sql`(${match.onLead('l')}
    OR EXISTS (SELECT 1 FROM "LeadActivity" a
                WHERE a."tenantId" = l."tenantId" AND a."leadId" = l."id" AND ${noteMatchSql(match)}
                OFFSET 0))`;
}

// ---------------------------------------------------------------------------
// The filter from a query string (GET /v1/leads, GET /v1/leads/export).
// ---------------------------------------------------------------------------

/** Query parameters holding a list: repeated (`tag=a&tag=b`) or comma-separated (`tag=a,b`). */
const LIST_PARAMS = {
  stageId: 'stageIds',
  ownerId: 'ownerIds',
  tag: 'tags',
  source: 'sources',
} as const;
const TEXT_PARAMS = [
  'q',
  'tagMode',
  'createdFrom',
  'createdTo',
  'updatedFrom',
  'updatedTo',
] as const;
const BOOLEAN_PARAMS = ['hasTelegram', 'hasPhone', 'hasEmail'] as const;

/** Every query parameter the filter reads (besides `cf.<key>`, `cf.<key>.gte`, `cf.<key>.lte`). */
export const LEAD_FILTER_QUERY_PARAMS: readonly string[] = [
  ...Object.keys(LIST_PARAMS),
  ...TEXT_PARAMS,
  ...BOOLEAN_PARAMS,
];

/** Whether a query parameter belongs to the lead filter. */
export function isLeadFilterQueryParam(name: string): boolean {
  return LEAD_FILTER_QUERY_PARAMS.includes(name) || name.startsWith('cf.');
}

const CF_PARAM = /^cf\.([^.]+)(?:\.(gte|lte))?$/;
const DATE_ONLY = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;
const NUMBER = /^-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,10})?$/;

/**
 * The lead filter from a query string as Fastify parses it (a repeated parameter is
 * an array). Lists are repeated or comma-separated (`stageId=a,b&stageId=c`); the
 * booleans are `true` or `false`; `cf.<key>=v` (repeat it for any of several values),
 * `cf.<key>.gte=` / `.lte=` (a number or a date) filter custom fields. A date-only
 * `createdTo` / `updatedTo` includes that whole day (UTC). Empty parameters are
 * ignored. Parameters named in `options.allow` are left to the caller; any other
 * unknown one is a 400. Errors name the parameter: `query.stageId`.
 */
export function leadFilterFromQuery(
  query: Readonly<Record<string, unknown>> | null | undefined,
  options: { readonly allow?: readonly string[] } = {},
): LeadFilter {
  const problems: FieldProblem[] = [];
  const input: Record<string, unknown> = {};
  const custom: Record<string, unknown> = {};
  /** zod path (top level, or customFields.<key>) → the query parameter it came from. */
  const origin = new Map<string, string>();
  const allow = new Set(options.allow ?? []);

  for (const [name, raw] of Object.entries(query ?? {})) {
    if (allow.has(name)) continue;
    const field = `query.${name}`;
    const values = (Array.isArray(raw) ? (raw as unknown[]) : [raw]).filter((v) => v !== undefined);
    if (!values.every((v): v is string => typeof v === 'string')) {
      problems.push({ field, message: 'must be text' });
      continue;
    }
    const present = values.map((v) => v.trim()).filter((v) => v !== '');
    if (present.length === 0) continue;

    if (name in LIST_PARAMS) {
      const target = LIST_PARAMS[name as keyof typeof LIST_PARAMS];
      input[target] = present
        .flatMap((v) => v.split(','))
        .map((v) => v.trim())
        .filter(Boolean);
      origin.set(target, field);
      continue;
    }
    if ((TEXT_PARAMS as readonly string[]).includes(name)) {
      if (present.length > 1) {
        problems.push({ field, message: 'must be given once' });
        continue;
      }
      const [value = ''] = present;
      input[name] =
        /^(?:created|updated)To$/.test(name) && DATE_ONLY.test(value) ? endOfDay(value) : value;
      origin.set(name, field);
      continue;
    }
    if ((BOOLEAN_PARAMS as readonly string[]).includes(name)) {
      if (present.length > 1 || (present[0] !== 'true' && present[0] !== 'false')) {
        problems.push({ field, message: 'must be true or false' });
        continue;
      }
      input[name] = present[0] === 'true';
      origin.set(name, field);
      continue;
    }
    const cf = CF_PARAM.exec(name);
    if (cf) {
      const [, key = '', bound] = cf;
      const path = `customFields.${key}`;
      if (!bound) {
        if (custom[key] !== undefined && !Array.isArray(custom[key])) {
          problems.push({ field, message: 'cannot be combined with a range on the same field' });
          continue;
        }
        custom[key] = present.length === 1 ? present[0] : present;
        origin.set(path, field);
        continue;
      }
      if (present.length > 1) {
        problems.push({ field, message: 'must be given once' });
        continue;
      }
      const [value = ''] = present;
      let parsed: string | number;
      if (NUMBER.test(value)) parsed = Number(value);
      else if (DATE_ONLY.test(value) || !Number.isNaN(Date.parse(value))) parsed = value;
      else {
        problems.push({ field, message: 'must be a number or a date' });
        continue;
      }
      const existing = custom[key];
      if (existing !== undefined && (typeof existing !== 'object' || Array.isArray(existing))) {
        problems.push({ field, message: 'cannot be combined with a value on the same field' });
        continue;
      }
      custom[key] = { ...((existing ?? {}) as Record<string, unknown>), [bound]: parsed };
      if (!origin.has(path)) origin.set(path, `query.cf.${key}`);
      continue;
    }
    problems.push({ field, message: 'is not a known parameter' });
  }
  if (Object.keys(custom).length > 0) {
    input.customFields = custom;
    origin.set('customFields', 'query.cf');
  }
  if (problems.length > 0) throw new ValidationError(problems);

  const result = leadFilter.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(
    result.error.issues.map((issue) => {
      const [top, second] = issue.path.map(String);
      const field =
        (top === 'customFields' && second !== undefined
          ? (origin.get(`customFields.${second}`) ?? `query.cf.${second}`)
          : undefined) ??
        origin.get(top ?? '') ??
        `query.${top ?? ''}`;
      return { field, message: issue.message };
    }),
  );
}

/** The last millisecond of a UTC day. */
function endOfDay(day: string): string {
  const start = Date.parse(`${day}T00:00:00.000Z`);
  if (Number.isNaN(start)) return day; // zod names it
  return new Date(start + 86_400_000 - 1).toISOString();
}
