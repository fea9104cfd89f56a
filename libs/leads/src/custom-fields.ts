import { ValidationError, type FieldProblem } from '@ibhq/core';
import type { $Enums } from '@ibhq/db';

/** A custom field's definition, as validation needs it. */
export interface CustomFieldDefinition {
  readonly id: string;
  readonly key: string;
  readonly label: string;
  readonly type: $Enums.CustomFieldType;
  readonly required: boolean;
  readonly options: readonly string[];
  readonly position: number;
}

/** Longest text value of a `text` field. */
export const CUSTOM_TEXT_MAX = 2_000;

export interface ApplyCustomFieldOptions {
  /** Where the values came from, for error messages: `body.customFields`. */
  readonly field: string;
  /** The result must hold a value for every required field (a create, an import row). */
  readonly complete: boolean;
  /**
   * Values arrive as text (a CSV cell) and are parsed: numbers, true/false/yes/no/1/0,
   * YYYY-MM-DD dates, multi select options separated by `;`. An empty string is no value.
   */
  readonly fromText?: boolean;
}

type Parsed = { ok: true; value: unknown } | { ok: false; message: string };
const ok = (value: unknown): Parsed => ({ ok: true, value });
const bad = (message: string): Parsed => ({ ok: false, message });
/** A change that removes the value. */
const NONE = Symbol('no value');

/**
 * Validates `changes` against the definitions and returns the values to store
 * (`current` with `changes` applied; a null change removes the value). Throws
 * ValidationError naming `${field}.${key}` for an unknown key, a wrong type or an
 * unknown option, for a change that removes a required field's value, and (when
 * `complete`) for a required field left without a value.
 * Every problem of the call is reported at once.
 *
 * Stored forms: text (trimmed; empty is no value), number (finite), date
 * (`YYYY-MM-DD`), boolean, single select (the option as defined; matched without
 * regard to case), multi select (the options in the definition's order; an empty
 * list is no value).
 * Pure: imports call it per row with definitions loaded once.
 */
export function applyCustomFieldValues(
  definitions: readonly CustomFieldDefinition[],
  current: Readonly<Record<string, unknown>>,
  changes: Readonly<Record<string, unknown>>,
  options: ApplyCustomFieldOptions,
): Record<string, unknown> {
  const byKey = new Map(definitions.map((d) => [d.key, d]));
  const result: Record<string, unknown> = { ...current };
  const problems: FieldProblem[] = [];
  for (const [key, raw] of Object.entries(changes)) {
    const definition = byKey.get(key);
    if (!definition) {
      problems.push({
        field: `${options.field}.${shortKey(key)}`,
        message: 'is not a custom field of this tenant',
      });
      continue;
    }
    const parsed = options.fromText ? parseText(definition, raw) : parseValue(definition, raw);
    if (!parsed.ok) {
      problems.push({ field: `${options.field}.${key}`, message: parsed.message });
    } else if (parsed.value === NONE) {
      // A change (null, an empty text or list) may not remove a required value; a
      // complete set of values is checked as a whole below.
      if (definition.required && !options.complete) {
        problems.push({
          field: `${options.field}.${key}`,
          message: 'is required: it cannot be removed',
        });
      }
      Reflect.deleteProperty(result, key);
    } else {
      result[key] = parsed.value;
    }
  }
  if (options.complete) {
    for (const definition of definitions) {
      const value = result[definition.key];
      if (definition.required && (value === undefined || value === null)) {
        problems.push({ field: `${options.field}.${definition.key}`, message: 'is required' });
      }
    }
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return result;
}

/** A JSON value (the API). */
function parseValue(definition: CustomFieldDefinition, raw: unknown): Parsed {
  if (raw === null || raw === undefined) return ok(NONE);
  switch (definition.type) {
    case 'text':
      return typeof raw === 'string' ? text(raw) : bad(`must be text (a string)`);
    case 'number':
      return typeof raw === 'number' && Number.isFinite(raw) ? ok(raw) : bad('must be a number');
    case 'date':
      return typeof raw === 'string' ? date(raw) : bad('must be a date (YYYY-MM-DD)');
    case 'boolean':
      return typeof raw === 'boolean' ? ok(raw) : bad('must be true or false');
    case 'single_select':
      return typeof raw === 'string' ? option(definition, raw) : bad(optionsMessage(definition));
    case 'multi_select':
      if (!Array.isArray(raw) || raw.some((v) => typeof v !== 'string')) {
        return bad(`must be a list of options (${listOf(definition)})`);
      }
      return options(definition, raw as string[], false);
  }
}

/** A text cell (CSV import). */
function parseText(definition: CustomFieldDefinition, raw: unknown): Parsed {
  if (raw === null || raw === undefined) return ok(NONE);
  if (typeof raw !== 'string') return bad('must be text');
  const cell = raw.trim();
  if (cell === '') return ok(NONE);
  switch (definition.type) {
    case 'text':
      return text(cell);
    case 'number':
      return number(cell);
    case 'date':
      return date(cell);
    case 'boolean':
      return boolean(cell);
    case 'single_select':
      return option(definition, cell);
    case 'multi_select':
      return options(definition, cell.split(';'), true);
  }
}

/** jsonb refuses a lone UTF-16 surrogate (JSON.stringify writes it as \\ud800). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function text(raw: string): Parsed {
  const value = raw.trim();
  if (value.length > CUSTOM_TEXT_MAX) return bad(`must be at most ${CUSTOM_TEXT_MAX} characters`);
  // PostgreSQL's jsonb cannot hold U+0000.
  if (value.includes('\u0000')) return bad('must not contain NUL characters');
  if (LONE_SURROGATE.test(value)) return bad('must be valid Unicode text (a lone surrogate)');
  return ok(value === '' ? NONE : value);
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
function number(cell: string): Parsed {
  if (!NUMBER.test(cell)) return bad('must be a number');
  const value = Number(cell);
  return Number.isFinite(value) ? ok(value) : bad('must be a number');
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
function date(raw: string): Parsed {
  const match = DATE.exec(raw);
  if (!match) return bad('must be a date (YYYY-MM-DD)');
  const [, y, m, d] = match.map(Number) as [number, number, number, number];
  const parsed = new Date(Date.UTC(y, m - 1, d));
  if (
    y < 1 ||
    parsed.getUTCFullYear() !== y ||
    parsed.getUTCMonth() !== m - 1 ||
    parsed.getUTCDate() !== d
  ) {
    return bad('is not a real date');
  }
  return ok(raw);
}

const TRUE = new Set(['true', 'yes', '1']);
const FALSE = new Set(['false', 'no', '0']);
function boolean(cell: string): Parsed {
  const word = cell.toLowerCase();
  if (TRUE.has(word)) return ok(true);
  if (FALSE.has(word)) return ok(false);
  return bad('must be true or false (yes/no, 1/0)');
}

/** The defined option `raw` names (compared without regard to case or surrounding space). */
function find(definition: CustomFieldDefinition, raw: string): string | undefined {
  const wanted = raw.trim();
  return (
    definition.options.find((o) => o === wanted) ??
    definition.options.find((o) => o.toLowerCase() === wanted.toLowerCase())
  );
}

function option(definition: CustomFieldDefinition, raw: string): Parsed {
  if (raw.trim() === '') return ok(NONE);
  const found = find(definition, raw);
  return found === undefined ? bad(optionsMessage(definition)) : ok(found);
}

function options(definition: CustomFieldDefinition, raw: string[], lenient: boolean): Parsed {
  const values = lenient ? raw.map((v) => v.trim()).filter((v) => v !== '') : raw;
  if (!lenient && values.length > definition.options.length) {
    return bad(`must be a list of distinct options (${listOf(definition)})`);
  }
  const chosen = new Set<string>();
  for (const value of values) {
    const found = find(definition, value);
    if (found === undefined) return bad(`"${clip(value)}" ${optionsMessage(definition)}`);
    if (chosen.has(found) && !lenient) {
      return bad(`must be a list of distinct options: "${clip(found)}" is repeated`);
    }
    chosen.add(found);
  }
  if (chosen.size === 0) return ok(NONE);
  return ok(definition.options.filter((o) => chosen.has(o)));
}

function optionsMessage(definition: CustomFieldDefinition): string {
  return `must be one of the field's options (${listOf(definition)})`;
}

function listOf(definition: CustomFieldDefinition): string {
  const shown = definition.options.slice(0, 10).map((o) => `"${o}"`);
  if (definition.options.length > 10) shown.push(`and ${definition.options.length - 10} more`);
  return shown.length > 0 ? shown.join(', ') : 'none defined';
}

function clip(value: string): string {
  return value.length > 100 ? `${value.slice(0, 100)}...` : value;
}

/** A key as an error names it: unknown keys can be anything, up to megabytes. */
function shortKey(key: string): string {
  return key.length > 64 ? `${key.slice(0, 64)}...` : key;
}
