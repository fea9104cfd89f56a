export {
  addNoteBody,
  createLeadBody,
  leadIdParam,
  pageQuery,
  type ActivityView,
  type AddNoteBody,
  type CreateLeadBody,
  type LeadView,
  type PageQuery,
} from './leads.dto.js';
export { leadsJobs, recordActivityJob, type RecordActivityPayload } from './leads.jobs.js';
export { LeadsModule } from './leads.module.js';
export { LeadsService } from './leads.service.js';
