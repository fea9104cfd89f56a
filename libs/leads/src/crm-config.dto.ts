import { z } from 'zod';
import type { $Enums } from '@ibhq/db';
import type { CustomFieldDefinition } from './custom-fields.js';
import { LEAD_SOURCES } from './lead-view.js';
import { noControlCharacters, TAG_NAME_MAX } from './lead-input.js';

/**
 * Requests and answers of the CRM's configuration: tags, custom field definitions
 * and round-robin assignment rules.
 */

export {
  applyCustomFieldValues,
  CUSTOM_TEXT_MAX,
  type ApplyCustomFieldOptions,
} from './custom-fields.js';
export { normaliseTagNames } from './tags.service.js';
export { TAG_NAME_MAX } from './lead-input.js';
export { releaseMember, type AssignmentRuleView } from './assignment.service.js';

/** Most custom field definitions a tenant may have. */
export const CUSTOM_FIELDS_MAX = 100;
/** Most options of a select field. */
export const CUSTOM_FIELD_OPTIONS_MAX = 200;
/** Most members in one assignment rule. */
export const ASSIGNMENT_MEMBERS_MAX = 100;

const tagName = z
  .string()
  .max(1000)
  .trim()
  .min(1)
  .max(TAG_NAME_MAX)
  .refine(noControlCharacters, 'must not hold control characters');
const tagColor = z
  .string()
  .regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour like #1a2b3c')
  .transform((c) => c.toLowerCase());

export const tagIdParam = z.uuid();

export const createTagBody = z.strictObject({
  name: tagName,
  color: tagColor.nullable().optional(),
});
export type CreateTagBody = z.infer<typeof createTagBody>;

export const updateTagBody = z
  .strictObject({ name: tagName.optional(), color: tagColor.nullable().optional() })
  .refine((b) => b.name !== undefined || b.color !== undefined, {
    message: 'nothing to change: send name or color',
  });
export type UpdateTagBody = z.infer<typeof updateTagBody>;

export const listTagsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(200),
  cursor: z.string().min(1).max(512).optional(),
});
export type ListTagsQuery = z.infer<typeof listTagsQuery>;

export interface TagView {
  readonly id: string;
  readonly name: string;
  readonly color: string | null;
  /** Leads (that the caller can see) carrying the tag. */
  readonly leadCount: number;
  readonly createdAt: Date;
}

export const CUSTOM_FIELD_TYPES = [
  'text',
  'number',
  'date',
  'boolean',
  'single_select',
  'multi_select',
] as const satisfies readonly $Enums.CustomFieldType[];

const SELECT_TYPES: readonly $Enums.CustomFieldType[] = ['single_select', 'multi_select'];
export const isSelectType = (type: $Enums.CustomFieldType) => SELECT_TYPES.includes(type);

/** A custom field's label or option: 1 to 100 characters after trimming, no control characters. */
const fieldLabel = z
  .string()
  .max(1000)
  .trim()
  .min(1)
  .max(100)
  .refine(noControlCharacters, 'must not hold control characters');

const optionText = fieldLabel;

/** Options: distinct without regard to case, at most 200. */
const optionList = z
  .array(optionText)
  .max(CUSTOM_FIELD_OPTIONS_MAX)
  .superRefine((options, ctx) => {
    const seen = new Set<string>();
    options.forEach((o, i) => {
      if (seen.has(o.toLowerCase())) {
        ctx.addIssue({ code: 'custom', path: [i], message: `repeats the option "${o}"` });
      }
      seen.add(o.toLowerCase());
    });
  });

/** What is wrong with `options` for a field of `type`: select types need some; others take none. */
function optionIssues(
  type: $Enums.CustomFieldType,
  options: readonly string[] | undefined,
): { path: (string | number)[]; message: string }[] {
  if (!isSelectType(type)) {
    return options !== undefined && options.length > 0
      ? [{ path: ['options'], message: `only select fields have options (this one is ${type})` }]
      : [];
  }
  if (options === undefined || options.length === 0) {
    return [{ path: ['options'], message: 'a select field needs options' }];
  }
  if (type !== 'multi_select') return [];
  // CSV import separates the options of a multi select with ';'.
  return options.flatMap((o, i) =>
    o.includes(';')
      ? [{ path: ['options', i], message: 'must not contain ";" (it separates options in CSV)' }]
      : [],
  );
}

/** The same checks for a change of options (the type is the stored one), as field problems. */
export function optionProblems(
  type: $Enums.CustomFieldType,
  options: readonly string[] | undefined,
): { field: string; message: string }[] {
  return optionIssues(type, options).map((issue) => ({
    field: ['body', ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
}

export const customFieldIdParam = z.uuid();

export const createCustomFieldBody = z
  .strictObject({
    key: z
      .string()
      .max(1000)
      .regex(
        /^[a-z][a-z0-9_]{0,63}$/,
        'must be 1 to 64 lower-case letters, digits or underscores, starting with a letter',
      ),
    label: fieldLabel,
    type: z.enum(CUSTOM_FIELD_TYPES),
    required: z.boolean().default(false),
    options: optionList.optional(),
    position: z.number().int().min(0).max(1_000_000).optional(),
  })
  .superRefine((b, ctx) => {
    for (const issue of optionIssues(b.type, b.options)) ctx.addIssue({ code: 'custom', ...issue });
  });
export type CreateCustomFieldBody = z.infer<typeof createCustomFieldBody>;

/** key and type are immutable (a new field is a new key). */
export const updateCustomFieldBody = z
  .strictObject({
    label: fieldLabel.optional(),
    required: z.boolean().optional(),
    options: optionList.optional(),
    position: z.number().int().min(0).max(1_000_000).optional(),
  })
  .refine((b) => Object.keys(b).length > 0, {
    message: 'nothing to change: send label, required, options or position',
  });
export type UpdateCustomFieldBody = z.infer<typeof updateCustomFieldBody>;

export interface CustomFieldView extends CustomFieldDefinition {
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export const leadSourceParam = z.enum(LEAD_SOURCES);

export const putAssignmentRuleBody = z.strictObject({
  memberIds: z
    .array(z.uuid().transform((id) => id.toLowerCase()))
    .min(1)
    .max(ASSIGNMENT_MEMBERS_MAX)
    .superRefine((ids, ctx) => {
      const seen = new Set<string>();
      ids.forEach((id, i) => {
        if (seen.has(id)) ctx.addIssue({ code: 'custom', path: [i], message: 'is repeated' });
        seen.add(id);
      });
    }),
});
export type PutAssignmentRuleBody = z.infer<typeof putAssignmentRuleBody>;
