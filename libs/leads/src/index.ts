export {
  addNoteBody,
  createLeadBody,
  leadIdParam,
  pageQuery,
  type ActivityView,
  type AddNoteBody,
  type CreateLeadBody,
  type LeadSummary,
  type PageQuery,
} from './leads.dto.js';
export { AssignmentService } from './assignment.service.js';
export { BulkService } from './bulk.service.js';
export { applyCustomFieldValues, type CustomFieldDefinition } from './custom-fields.js';
export { CustomFieldsService } from './custom-fields.service.js';
export { DuplicatesService } from './duplicates.service.js';
export { ExportService } from './export.service.js';
export * from './identity.js';
export { ImportService } from './import.service.js';
export { leadFilter, leadFilterSql, type LeadFilter } from './lead-filter.js';
export { LeadListService } from './lead-list.service.js';
export { LEAD_SOURCES, LEAD_VIEW_COLUMNS, type LeadSource, type LeadView } from './lead-view.js';
export {
  bulkJob,
  importJob,
  leadsJobs,
  recordActivityJob,
  type BulkJobPayload,
  type ImportJobPayload,
  type RecordActivityPayload,
} from './leads.jobs.js';
export { LeadsModule } from './leads.module.js';
export { LeadsService } from './leads.service.js';
export { MergeService } from './merge.service.js';
export { PipelineService, type StageMove, type StageView } from './pipeline.service.js';
export { SavedViewsService } from './saved-views.service.js';
export { TagsService, type TagRef } from './tags.service.js';
export { TimelineService, type NewActivity } from './timeline.service.js';
