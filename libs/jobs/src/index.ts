export {
  defineJob,
  tenantJobPayload,
  type JobDefinition,
  type TenantJobPayload,
} from './job-definition.js';
export { JobHandler, type JobHandlerOf, type JobRunInfo } from './job-handler.js';
export { JobQueue } from './job-queue.js';
export { JobRegistryError, JobWorkers } from './job-workers.js';
export { JobsModule, JobWorkersModule } from './jobs.module.js';
export { JobTracker, type JobErrorInput, type JobStatus, type JobView } from './job-tracker.js';
