import { z } from 'zod';
import type { ColumnMapping } from './import/column-mapping.js';
import { storableText } from './lead-input.js';

/** POST /v1/leads/imports?fileName=leads.csv (the file itself is the text/csv body). */
export const importUploadQuery = z.strictObject({
  fileName: storableText(z.string().trim().min(1).max(255)).optional(),
});
export type ImportUploadQuery = z.infer<typeof importUploadQuery>;

export const importIdParam = z.uuid();

/** Most columns a mapping may name (the header allows as many). */
const MAPPING_MAX = 500;

/** POST /v1/leads/imports/:id/start. */
export const startImportBody = z.strictObject({
  /** Column name -> lead field (`displayName`, `phone`, `cf.<key>`...) or null to leave it out. */
  mapping: z
    .record(z.string().max(200), z.string().min(1).max(100).nullable())
    .refine((m) => Object.keys(m).length <= MAPPING_MAX, `at most ${String(MAPPING_MAX)} columns`)
    .optional(),
  /** What a row whose identity already exists does: nothing, or update that lead. */
  onExisting: z.enum(['skip', 'update']),
  /** Needed when the same file (by checksum) was imported before. */
  confirm: z.boolean().optional(),
});
export type StartImportBody = z.infer<typeof startImportBody>;

export type ImportStatus = 'uploaded' | 'queued' | 'running' | 'completed' | 'failed';

/** The counts of an import's job (so far, while it runs). */
export interface ImportCounts {
  readonly created: number;
  readonly updated: number;
  readonly skipped: number;
  readonly failed: number;
}

/** What an upload answers (201). */
export interface ImportUploadView {
  readonly id: string;
  readonly fileName: string | null;
  readonly status: ImportStatus;
  readonly rowCount: number;
  readonly byteSize: number;
  readonly checksum: string;
  readonly delimiter: string;
  readonly header: readonly string[];
  /** What each column would fill with the header names alone (null: left out). */
  readonly suggestedMapping: ColumnMapping;
  /** An earlier import of the same file (same checksum) in this tenant, if any. */
  readonly previousImportId: string | null;
}

/** GET /v1/leads/imports/:id. */
export interface ImportView extends Omit<ImportUploadView, 'previousImportId'> {
  readonly mapping: ColumnMapping | null;
  readonly onExisting: 'skip' | 'update' | null;
  readonly jobId: string | null;
  /** Rows done (imported, skipped or failed) out of rowCount. */
  readonly progress: { readonly done: number; readonly total: number } | null;
  readonly counts: ImportCounts | null;
  /** The rejected rows (rowNumber, field, reason) as CSV, once the job has started. */
  readonly errorReportUrl: string | null;
  readonly error: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}
