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

/**
 * Validates `changes` against the definitions and returns the values to store
 * (`current` with `changes` applied; a null change removes the value). Throws
 * ValidationError naming `${field}.${key}` for an unknown key, a wrong type or an
 * unknown option, and (when `complete`) for a required field left without a value.
 * Pure: imports call it per row with definitions loaded once.
 * OWNER: tags/custom fields/assignment work.
 */
export function applyCustomFieldValues(
  _definitions: readonly CustomFieldDefinition[],
  _current: Readonly<Record<string, unknown>>,
  _changes: Readonly<Record<string, unknown>>,
  _options: { field: string; complete: boolean },
): Record<string, unknown> {
  throw new Error('not implemented');
}
