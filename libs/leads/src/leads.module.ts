import { Module } from '@nestjs/common';
import { AuditModule } from '@ibhq/audit';
import { DatabaseModule } from '@ibhq/db';
import { JobsModule } from '@ibhq/jobs';
import { AssignmentService } from './assignment.service.js';
import { BulkService } from './bulk.service.js';
import { CustomFieldsService } from './custom-fields.service.js';
import { DuplicatesService } from './duplicates.service.js';
import { ExportService } from './export.service.js';
import { ImportService } from './import.service.js';
import { LeadListService } from './lead-list.service.js';
import { LeadsService } from './leads.service.js';
import { MergeService } from './merge.service.js';
import { PipelineService } from './pipeline.service.js';
import { SavedViewsService } from './saved-views.service.js';
import { TagsService } from './tags.service.js';
import { TimelineService } from './timeline.service.js';

const SERVICES = [
  AssignmentService,
  BulkService,
  CustomFieldsService,
  DuplicatesService,
  ExportService,
  ImportService,
  LeadListService,
  LeadsService,
  MergeService,
  PipelineService,
  SavedViewsService,
  TagsService,
  TimelineService,
];

/**
 * The lead CRM: leads, pipeline, timeline, search, bulk work, duplicates, import, export.
 * Re-exports JobsModule: the CRM's background work is followed through its JobTracker.
 */
@Module({
  imports: [DatabaseModule, JobsModule, AuditModule],
  providers: SERVICES,
  exports: [...SERVICES, JobsModule],
})
export class LeadsModule {}
