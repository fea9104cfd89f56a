import { isDeepStrictEqual } from 'node:util';
import { LEAD_PROFILE_FIELDS, type LeadSource, type StoredLead } from '../lead-view.js';
import {
  completeForCreate,
  identityKeys,
  type ImportContext,
  type ImportedLead,
  type RowProblem,
} from './row-validation.js';

/**
 * What one chunk of valid rows does, decided in memory before any write: which rows
 * create leads, which update (or skip) existing ones, which fail because their
 * identities point at two different leads. A row's identities are looked up among
 * the tenant's leads (`existing`, read by the caller) and the earlier rows of the
 * chunk (earlier chunks are already written, so they are among `existing`). Pure.
 */

/** A live lead of the tenant that a row's identity matched, as stored. */
export interface ExistingLead extends StoredLead {
  /** Tag names (only read when rows update leads). */
  readonly tags: readonly string[];
}

/** A lead's fields as the import writes them. */
export interface LeadState {
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
  ownerId: string | null;
  stageId: string;
  customFields: Record<string, unknown>;
  tags: string[];
}

export interface PlannedCreate {
  /** The row that creates it. */
  readonly rowNumber: number;
  readonly id: string;
  readonly state: LeadState;
}

export interface PlannedUpdate {
  readonly before: ExistingLead;
  readonly state: LeadState;
  /** What the rows change in it (never empty). */
  readonly diff: LeadDiff;
}

export interface ChunkPlan {
  readonly creates: PlannedCreate[];
  /** Leads whose fields the rows change (unchanged ones are left out). */
  readonly updates: PlannedUpdate[];
  readonly created: number;
  readonly updated: number;
  readonly skipped: number;
  readonly failures: { readonly rowNumber: number; readonly problems: readonly RowProblem[] }[];
}

export interface PlanOptions {
  readonly onExisting: 'skip' | 'update';
  readonly ctx: ImportContext;
  /** The stage of a new lead that names none. */
  readonly defaultStageId: string;
  readonly newId: () => string;
}

/** The fields a diff reports as field changes (owner and stage are moves of their own). */
const SCALARS = [...LEAD_PROFILE_FIELDS, 'source'] as const;

function stateOf(lead: ExistingLead): LeadState {
  return {
    displayName: lead.displayName,
    telegramUserId: lead.telegramUserId,
    telegramUsername: lead.telegramUsername,
    phone: lead.phone,
    phoneNational: lead.phoneNational,
    email: lead.email,
    emailLocal: lead.emailLocal,
    language: lead.language,
    country: lead.country,
    source: lead.source,
    ownerId: lead.ownerId,
    stageId: lead.stageId,
    customFields: { ...lead.customFields },
    tags: [...lead.tags],
  };
}

/** The row's fields written over `state` (tags added, custom fields merged). */
function apply(state: LeadState, row: ImportedLead): LeadState {
  const next: LeadState = { ...state, customFields: { ...state.customFields } };
  if (row.displayName !== undefined) next.displayName = row.displayName;
  if (row.telegramUserId !== undefined) next.telegramUserId = row.telegramUserId;
  if (row.telegramUsername !== undefined) next.telegramUsername = row.telegramUsername;
  if (row.phone !== undefined) {
    next.phone = row.phone;
    next.phoneNational = row.phoneNational ?? null;
  }
  if (row.email !== undefined) {
    next.email = row.email;
    next.emailLocal = row.emailLocal ?? null;
  }
  if (row.language !== undefined) next.language = row.language;
  if (row.country !== undefined) next.country = row.country;
  if (row.source !== undefined) next.source = row.source;
  if (row.ownerId !== undefined) next.ownerId = row.ownerId;
  if (row.stageId !== undefined) next.stageId = row.stageId;
  Object.assign(next.customFields, row.customFields);
  const have = new Set(state.tags.map((t) => t.toLowerCase()));
  next.tags = [...state.tags, ...row.tags.filter((t) => !have.has(t.toLowerCase()))];
  return next;
}

/** What differs between two states of a lead. */
export interface LeadDiff {
  /** Scalar fields and `customFields.<key>`, from and to. */
  readonly fields: Record<string, { from: unknown; to: unknown }>;
  readonly tagsAdded: string[];
  readonly owner: { from: string | null; to: string | null } | null;
  readonly stage: { from: string; to: string } | null;
}

export function diffLead(before: LeadState, after: LeadState): LeadDiff {
  const fields: Record<string, { from: unknown; to: unknown }> = {};
  for (const f of SCALARS) {
    if (before[f] !== after[f]) fields[f] = { from: before[f], to: after[f] };
  }
  const keys = new Set([...Object.keys(before.customFields), ...Object.keys(after.customFields)]);
  for (const key of keys) {
    const from = before.customFields[key] ?? null;
    const to = after.customFields[key] ?? null;
    if (!isDeepStrictEqual(from, to)) fields[`customFields.${key}`] = { from, to };
  }
  const had = new Set(before.tags.map((t) => t.toLowerCase()));
  return {
    fields,
    tagsAdded: after.tags.filter((t) => !had.has(t.toLowerCase())),
    owner: before.ownerId === after.ownerId ? null : { from: before.ownerId, to: after.ownerId },
    stage: before.stageId === after.stageId ? null : { from: before.stageId, to: after.stageId },
  };
}

const isEmpty = (d: LeadDiff) =>
  Object.keys(d.fields).length === 0 && d.tagsAdded.length === 0 && !d.owner && !d.stage;

export function planChunk(
  rows: readonly { readonly rowNumber: number; readonly lead: ImportedLead }[],
  existing: readonly ExistingLead[],
  options: PlanOptions,
): ChunkPlan {
  const byId = new Map(existing.map((l) => [l.id, l]));
  /** Identity key -> the lead (existing or planned) that holds it. */
  const claims = new Map<string, string>();
  for (const lead of existing) {
    for (const { key } of identityKeys({
      ...(lead.telegramUserId ? { telegramUserId: lead.telegramUserId } : {}),
      ...(lead.telegramUsername ? { telegramUsername: lead.telegramUsername } : {}),
      ...(lead.phone ? { phone: lead.phone } : {}),
      ...(lead.email ? { email: lead.email } : {}),
      tags: [],
      customFields: {},
    })) {
      claims.set(key, lead.id);
    }
  }
  const creates = new Map<string, PlannedCreate>();
  const updates = new Map<string, PlannedUpdate>();
  const failures: ChunkPlan['failures'] = [];
  let created = 0;
  let updated = 0;
  let skipped = 0;

  for (const { rowNumber, lead } of rows) {
    const keys = identityKeys(lead);
    let target: { id: string; field: string } | undefined;
    let conflict: RowProblem | undefined;
    for (const { field, key } of keys) {
      const id = claims.get(key);
      if (id === undefined) continue;
      if (!target) target = { id, field };
      else if (target.id !== id) {
        conflict = { field, reason: `belongs to another lead than the row's ${target.field}` };
        break;
      }
    }
    if (conflict) {
      failures.push({ rowNumber, problems: [conflict] });
      continue;
    }
    if (!target) {
      const complete = completeForCreate(lead, options.ctx);
      if (!complete.ok) {
        failures.push({ rowNumber, problems: complete.problems });
        continue;
      }
      const row = complete.lead;
      const id = options.newId();
      const state = apply(
        {
          displayName: row.displayName ?? '',
          telegramUserId: null,
          telegramUsername: null,
          phone: null,
          phoneNational: null,
          email: null,
          emailLocal: null,
          language: null,
          country: null,
          source: 'import',
          ownerId: null,
          stageId: options.defaultStageId,
          customFields: {},
          tags: [],
        },
        row,
      );
      creates.set(id, { rowNumber, id, state });
      for (const { key } of keys) claims.set(key, id);
      created++;
      continue;
    }
    if (options.onExisting === 'skip') {
      skipped++;
      continue;
    }
    const planned = creates.get(target.id);
    const current = planned?.state ?? updates.get(target.id)?.state;
    const before = byId.get(target.id);
    const state = current ?? (before ? stateOf(before) : undefined);
    if (!state) throw new Error(`import plan: lead ${target.id} is neither existing nor planned`);
    const next = apply(state, lead);
    if (isEmpty(diffLead(state, next))) {
      skipped++;
      continue;
    }
    if (planned) creates.set(target.id, { ...planned, state: next });
    else if (before)
      updates.set(target.id, { before, state: next, diff: diffLead(stateOf(before), next) });
    for (const { key } of keys) claims.set(key, target.id);
    updated++;
  }
  return {
    creates: [...creates.values()],
    updates: [...updates.values()].filter((u) => !isEmpty(u.diff)),
    created,
    updated,
    skipped,
    failures,
  };
}
