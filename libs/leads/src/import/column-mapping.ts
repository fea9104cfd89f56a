import { ValidationError, type FieldProblem } from '@ibhq/core';
import type { CustomFieldDefinition } from '../custom-fields.js';
import { LEAD_PROFILE_FIELDS } from '../lead-view.js';

/**
 * Which lead field each CSV column fills. Lead fields by name; `stage` is a stage's
 * name, `owner` a member's e-mail (or user id), `tags` names separated by `;`, and
 * `cf.<key>` a custom field's value as text.
 */
export const IMPORT_LEAD_FIELDS = [
  ...LEAD_PROFILE_FIELDS,
  'source',
  'stage',
  'ownerId',
  'owner',
  'tags',
] as const;
export type ImportLeadField = (typeof IMPORT_LEAD_FIELDS)[number];
export type ImportField = ImportLeadField | `cf.${string}`;

/** Column name -> field (null: the column is not imported). */
export type ColumnMapping = Record<string, ImportField | null>;

/** Header names (lower case, letters and digits only) and the field each suggests. */
const SUGGESTIONS: Readonly<Record<string, ImportField | null>> = {
  displayname: 'displayName',
  name: 'displayName',
  fullname: 'displayName',
  telegramuserid: 'telegramUserId',
  telegramid: 'telegramUserId',
  telegramusername: 'telegramUsername',
  username: 'telegramUsername',
  telegram: 'telegramUsername',
  phone: 'phone',
  phonenumber: 'phone',
  mobile: 'phone',
  email: 'email',
  emailaddress: 'email',
  language: 'language',
  country: 'country',
  source: 'source',
  stage: 'stage',
  stagename: 'stage',
  ownerid: 'ownerId',
  owner: 'owner',
  owneremail: 'owner',
  tags: 'tags',
  // Columns of our own export that are not lead fields one can write.
  id: null,
  createdat: null,
  updatedat: null,
  stageid: null,
  stagechangedat: null,
  version: null,
  sourcedetails: null,
  activities: null,
};

const squash = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '');

const clip = (s: string) => (s.length > 64 ? `${s.slice(0, 64)}...` : s);

/** The field `name` is, exactly: a lead field or `cf.<key>` of a defined custom field. */
export function parseImportField(
  name: string,
  definitions: readonly CustomFieldDefinition[],
): ImportField | undefined {
  if ((IMPORT_LEAD_FIELDS as readonly string[]).includes(name)) return name as ImportLeadField;
  if (name.startsWith('cf.')) {
    const key = name.slice(3);
    if (definitions.some((d) => d.key === key)) return `cf.${key}`;
  }
  return undefined;
}

/**
 * The mapping the header suggests: names matched to fields without regard to case,
 * spaces or punctuation (`Display name`, `display_name`), `cf.<key>` (or a custom
 * field's key or label) to custom fields; our own export's id and timestamp columns
 * are left out. A field claimed by an earlier column is not suggested again.
 */
export function suggestMapping(
  header: readonly string[],
  definitions: readonly CustomFieldDefinition[],
): ColumnMapping {
  return Object.fromEntries<ImportField | null>(suggested(header, definitions));
}

/** The suggestion as a Map (column names can be anything, `__proto__` included). */
function suggested(
  header: readonly string[],
  definitions: readonly CustomFieldDefinition[],
): Map<string, ImportField | null> {
  const mapping = new Map<string, ImportField | null>();
  const claimed = new Set<ImportField>();
  for (const column of header) {
    if (column === '' || mapping.has(column)) continue;
    const field = suggest(column, definitions);
    if (field && !claimed.has(field)) {
      claimed.add(field);
      mapping.set(column, field);
    } else {
      mapping.set(column, null);
    }
  }
  return mapping;
}

function suggest(
  column: string,
  definitions: readonly CustomFieldDefinition[],
): ImportField | null {
  const cf = /^cf\.(.+)$/i.exec(column.trim());
  if (cf?.[1]) {
    const key = cf[1].toLowerCase();
    const definition = definitions.find((d) => d.key.toLowerCase() === key);
    return definition ? `cf.${definition.key}` : null;
  }
  const squashed = squash(column);
  if (squashed in SUGGESTIONS) return SUGGESTIONS[squashed] ?? null;
  const lower = column.trim().toLowerCase();
  const definition =
    definitions.find((d) => d.key.toLowerCase() === lower) ??
    definitions.find((d) => d.label.toLowerCase() === lower);
  return definition ? `cf.${definition.key}` : null;
}

/**
 * The mapping to import with: the header's suggestion, with the caller's choices
 * (`override`, by column name; null leaves a column out) on top. Throws
 * ValidationError naming `body.mapping.<column>` for a column the file does not have,
 * a field that does not exist, or a field two columns fill; `body.mapping` when no
 * column is left to import. Answers the field of each column, by position.
 */
export function resolveMapping(
  header: readonly string[],
  definitions: readonly CustomFieldDefinition[],
  override: Readonly<Record<string, string | null>> = {},
): { mapping: ColumnMapping; columns: (ImportField | null)[] } {
  const problems: FieldProblem[] = [];
  const mapping = suggested(header, definitions);
  const columnNames = new Set(header.filter((c) => c !== ''));
  for (const [column, target] of Object.entries(override)) {
    const field = `body.mapping.${clip(column)}`;
    if (!columnNames.has(column)) {
      problems.push({ field, message: 'is not a column of the file' });
      continue;
    }
    if (target === null) {
      mapping.set(column, null);
      continue;
    }
    const parsed = parseImportField(target, definitions);
    if (!parsed) {
      problems.push({
        field,
        message: `"${clip(target)}" is not a lead field (${IMPORT_LEAD_FIELDS.join(', ')} or cf.<custom field key>)`,
      });
      continue;
    }
    mapping.set(column, parsed);
  }
  const byField = new Map<ImportField, string>();
  for (const column of header) {
    const target = mapping.get(column);
    if (column === '' || !target) continue;
    const other = byField.get(target);
    if (other !== undefined && other !== column) {
      problems.push({
        field: `body.mapping.${clip(column)}`,
        message: `maps to ${target}, which the column "${clip(other)}" fills already`,
      });
    }
    byField.set(target, column);
  }
  if (problems.length > 0) throw new ValidationError(problems);
  if (byField.size === 0) {
    throw new ValidationError([
      {
        field: 'body.mapping',
        message: `maps no column to a lead field (the columns: ${header.map((c) => `"${clip(c)}"`).join(', ')})`,
      },
    ]);
  }
  const resolved = Object.fromEntries<ImportField | null>(mapping);
  return { mapping: resolved, columns: columnsOf(header, resolved) };
}

/** The field each column of the header fills, by position (null: not imported). */
export function columnsOf(
  header: readonly string[],
  mapping: ColumnMapping,
): (ImportField | null)[] {
  return header.map((c) => (c === '' ? null : (mapping[c] ?? null)));
}

/** True when the header suggests at least one lead field (a file worth staging). */
export function hasUsableColumn(
  header: readonly string[],
  definitions: readonly CustomFieldDefinition[],
): boolean {
  return [...suggested(header, definitions).values()].some((f) => f !== null);
}
