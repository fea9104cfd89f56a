export {
  ACTIVITY_KINDS,
  activitiesQuery,
  addNoteBody,
  addTaskBody,
  createLeadBody,
  createLeadQuery,
  leadIdParam,
  pageQuery,
  patchActivityBody,
  patchLeadBody,
  type ActivitiesQuery,
  type ActivityView,
  type AddNoteBody,
  type AddTaskBody,
  type CreateLeadBody,
  type CreateLeadQuery,
  type PageQuery,
  type PatchActivityBody,
  type PatchLeadBody,
} from './leads.dto.js';
export {
  IDENTITIES,
  resolveLead,
  versionsFromIfMatch,
  type Identity,
  type SourceDetails,
} from './lead-input.js';
export { AssignmentService } from './assignment.service.js';
/** Tags, custom fields, assignment rules: DTOs and helpers (crm-config.dto.ts). */
export * from './crm-config.dto.js';
export { BulkService } from './bulk.service.js';
export { applyCustomFieldValues, type CustomFieldDefinition } from './custom-fields.js';
export { CustomFieldsService } from './custom-fields.service.js';
export { DuplicatesService } from './duplicates.service.js';
export { ExportService } from './export.service.js';
export * from './identity.js';
export { ImportService } from './import.service.js';
export {
  escapeLike,
  isLeadFilterQueryParam,
  LEAD_FILTER_QUERY_PARAMS,
  LEAD_SEARCH_SETTINGS_SQL,
  LEAD_SEARCH_WORD_SIMILARITY,
  leadFilter,
  leadFilterFromQuery,
  leadFilterSql,
  type LeadFilter,
  type LeadFilterSqlOptions,
} from './lead-filter.js';
export {
  createSavedViewBody,
  LEAD_LIST_DEFAULT_LIMIT,
  LEAD_LIST_MAX_LIMIT,
  LEAD_SORTS,
  leadListQueryFrom,
  leadSearchBody,
  leadSortField,
  SAVED_VIEWS_PER_MEMBER,
  savedViewIdParam,
  savedViewListQuery,
  updateSavedViewBody,
  type CreateSavedViewBody,
  type LeadListInput,
  type LeadListPage,
  type LeadListTotal,
  type LeadSearchBody,
  type LeadSort,
  type SavedViewListQuery,
  type SavedViewView,
  type UpdateSavedViewBody,
} from './lead-list.dto.js';
export {
  DEFAULT_SCAN_WINDOW,
  findLeadPage,
  LEAD_LIST_ORDERS,
  LeadListService,
  type ScanWindow,
} from './lead-list.service.js';
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
export { SavedViewsService, type ViewReader } from './saved-views.service.js';
export { TagsService, type TagRef } from './tags.service.js';
export { TimelineService, type NewActivity } from './timeline.service.js';
