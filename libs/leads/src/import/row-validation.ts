import { isUuid, ValidationError } from '@ibhq/core';
import { applyCustomFieldValues, type CustomFieldDefinition } from '../custom-fields.js';
import {
  normaliseCountry,
  normaliseEmail,
  normaliseLanguage,
  normalisePhone,
  normaliseTelegramUserId,
  normaliseUsername,
} from '../identity.js';
import { unescapeFormula } from '../export-format.js';
import { displayNameField } from '../lead-input.js';
import { LEAD_SOURCES, type LeadSource } from '../lead-view.js';
import { normaliseTagNames } from '../tags.service.js';
import type { ImportField } from './column-mapping.js';

/**
 * One staged CSV row to lead fields, validated with the same functions the API uses
 * (identity.ts normalisers, the display name field, applyCustomFieldValues, tag
 * names), against what the tenant has (stages, members, custom fields) loaded once
 * per job. Pure: no database, no clock.
 */

/** What the tenant has, as the rows refer to it. */
export interface ImportContext {
  readonly definitions: readonly CustomFieldDefinition[];
  /** Stages by id and by lower-case name. */
  readonly stages: ReadonlyMap<string, { readonly id: string; readonly archived: boolean }>;
  /** Member user ids. */
  readonly members: ReadonlySet<string>;
  /** Member user ids by lower-case e-mail. */
  readonly memberEmails: ReadonlyMap<string, string>;
}

/** The fields a row gives (absent: the row leaves the field alone). */
export interface ImportedLead {
  displayName?: string;
  telegramUserId?: string;
  telegramUsername?: string;
  phone?: string;
  phoneNational?: string;
  email?: string;
  emailLocal?: string;
  language?: string;
  country?: string;
  source?: LeadSource;
  stageId?: string;
  ownerId?: string;
  /** Tag names (distinct without regard to case). */
  tags: string[];
  /** Parsed custom field values by key (only the cells that held one). */
  customFields: Record<string, unknown>;
}

export interface RowProblem {
  /** The lead field (`phone`, `cf.budget`), or null for the row as a whole. */
  readonly field: string | null;
  readonly reason: string;
}

export type RowResult =
  | { readonly ok: true; readonly lead: ImportedLead }
  | { readonly ok: false; readonly problems: readonly RowProblem[] };

/** Most tags one row may give (as the API allows). */
const MAX_TAGS = 100;

/** The message of a ValidationError's problems, for one field. */
function problemsOf(e: unknown, field: (name: string) => string): RowProblem[] {
  if (!(e instanceof ValidationError)) throw e;
  return e.fields.map((p) => ({ field: field(p.field), reason: p.message }));
}

/**
 * Validates one row: `cells` as staged (an array of strings), `columns` the field of
 * each column (null: not imported). A cell our export protected from formula
 * execution (a leading `'`, see export-format.ts) gets its value back first; empty
 * cells give nothing. Every problem of the row is reported (a row with a wrong number
 * of cells only that).
 */
export function validateRow(
  cells: unknown,
  columns: readonly (ImportField | null)[],
  ctx: ImportContext,
): RowResult {
  if (!Array.isArray(cells) || cells.some((c) => typeof c !== 'string')) {
    return { ok: false, problems: [{ field: null, reason: 'is not a row of text cells' }] };
  }
  const row = cells as string[];
  if (row.length !== columns.length) {
    return {
      ok: false,
      problems: [
        {
          field: null,
          reason: `has ${String(row.length)} cells; the header has ${String(columns.length)}`,
        },
      ],
    };
  }
  const given = new Map<ImportField, string>();
  columns.forEach((field, i) => {
    const cell = unescapeFormula(row[i] ?? '');
    if (field && cell.trim() !== '') given.set(field, cell);
  });

  const problems: RowProblem[] = [];
  const lead: ImportedLead = { tags: [], customFields: {} };
  const fail = (field: string, reason: string) => problems.push({ field, reason });

  const name = given.get('displayName');
  if (name !== undefined) {
    const parsed = displayNameField.safeParse(name);
    if (parsed.success) lead.displayName = parsed.data;
    else fail('displayName', parsed.error.issues[0]?.message ?? 'is not a name');
  }
  const tgId = given.get('telegramUserId');
  if (tgId !== undefined) {
    const r = normaliseTelegramUserId(tgId);
    if (r.ok) lead.telegramUserId = r.value;
    else fail('telegramUserId', r.message);
  }
  const username = given.get('telegramUsername');
  if (username !== undefined) {
    const r = normaliseUsername(username);
    if (r.ok) lead.telegramUsername = r.value;
    else fail('telegramUsername', r.message);
  }
  const email = given.get('email');
  if (email !== undefined) {
    const r = normaliseEmail(email);
    if (r.ok) {
      lead.email = r.value.email;
      lead.emailLocal = r.value.local;
    } else fail('email', r.message);
  }
  const language = given.get('language');
  if (language !== undefined) {
    const r = normaliseLanguage(language);
    if (r.ok) lead.language = r.value;
    else fail('language', r.message);
  }
  const country = given.get('country');
  if (country !== undefined) {
    const r = normaliseCountry(country);
    if (r.ok) lead.country = r.value;
    else fail('country', r.message);
  }
  const phone = given.get('phone');
  if (phone !== undefined) {
    // Like the API: a number without its country code is read in the lead's country.
    const r = normalisePhone(phone, lead.country);
    if (r.ok) {
      lead.phone = r.value.e164;
      lead.phoneNational = r.value.national;
    } else fail('phone', r.message);
  }
  const source = given.get('source');
  if (source !== undefined) {
    const wanted = source.trim().toLowerCase();
    const found = LEAD_SOURCES.find((s) => s === wanted);
    if (found) lead.source = found;
    else fail('source', `must be one of ${LEAD_SOURCES.join(', ')}`);
  }
  const stage = given.get('stage');
  if (stage !== undefined) {
    const wanted = stage.trim();
    const found = ctx.stages.get(wanted.toLowerCase());
    if (!found) fail('stage', `no stage is named "${clip(wanted)}"`);
    else if (found.archived) fail('stage', 'is an archived stage: no lead can be moved into it');
    else lead.stageId = found.id;
  }
  const ownerId = given.get('ownerId');
  if (ownerId !== undefined) {
    const id = ownerId.trim().toLowerCase();
    if (isUuid(id) && ctx.members.has(id)) lead.ownerId = id;
    else fail('ownerId', 'is not a member of this tenant');
  }
  const owner = given.get('owner');
  if (owner !== undefined) {
    const wanted = owner.trim().toLowerCase();
    const id = isUuid(wanted) && ctx.members.has(wanted) ? wanted : ctx.memberEmails.get(wanted);
    if (id === undefined) fail('owner', 'is not a member of this tenant (by e-mail or user id)');
    else if (lead.ownerId !== undefined && lead.ownerId !== id) {
      fail('owner', 'names another member than ownerId');
    } else lead.ownerId = id;
  }
  const tags = given.get('tags');
  if (tags !== undefined) {
    const names = tags
      .split(';')
      .map((t) => t.trim())
      .filter((t) => t !== '');
    try {
      lead.tags = normaliseTagNames(names, 'tags');
      if (lead.tags.length > MAX_TAGS) fail('tags', `at most ${String(MAX_TAGS)} tags`);
    } catch (e) {
      problems.push(...problemsOf(e, () => 'tags'));
    }
  }
  const custom: Record<string, string> = {};
  for (const [field, cell] of given) {
    if (field.startsWith('cf.')) custom[field.slice(3)] = cell;
  }
  if (Object.keys(custom).length > 0) {
    try {
      lead.customFields = applyCustomFieldValues(ctx.definitions, {}, custom, {
        field: 'cf',
        complete: false,
        fromText: true,
      });
    } catch (e) {
      problems.push(...problemsOf(e, (f) => f));
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, lead };
}

/**
 * A row that creates a lead: it needs a name (the display name, else the first of
 * username, e-mail, phone, Telegram id) and every required custom field.
 */
export function completeForCreate(lead: ImportedLead, ctx: ImportContext): RowResult {
  const problems: RowProblem[] = [];
  const displayName =
    lead.displayName ?? lead.telegramUsername ?? lead.email ?? lead.phone ?? lead.telegramUserId;
  if (displayName === undefined) {
    problems.push({
      field: 'displayName',
      reason: 'is required for a new lead (or a username, e-mail, phone or Telegram id)',
    });
  }
  try {
    applyCustomFieldValues(ctx.definitions, {}, lead.customFields, {
      field: 'cf',
      complete: true,
    });
  } catch (e) {
    problems.push(...problemsOf(e, (f) => f));
  }
  if (problems.length > 0 || displayName === undefined) return { ok: false, problems };
  return { ok: true, lead: { ...lead, displayName } };
}

/** The identities a row gives, each as a key unique across kinds (`p:+44...`). */
export function identityKeys(lead: ImportedLead): {
  readonly field: 'telegramUserId' | 'telegramUsername' | 'phone' | 'email';
  readonly key: string;
}[] {
  const keys: {
    field: 'telegramUserId' | 'telegramUsername' | 'phone' | 'email';
    key: string;
  }[] = [];
  if (lead.telegramUserId) keys.push({ field: 'telegramUserId', key: `t:${lead.telegramUserId}` });
  if (lead.telegramUsername) {
    keys.push({ field: 'telegramUsername', key: `u:${lead.telegramUsername.toLowerCase()}` });
  }
  if (lead.phone) keys.push({ field: 'phone', key: `p:${lead.phone}` });
  if (lead.email) keys.push({ field: 'email', key: `e:${lead.email}` });
  return keys;
}

function clip(value: string): string {
  return value.length > 60 ? `${value.slice(0, 60)}...` : value;
}
