import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import type { DestinationStream } from 'pino';
import { type AppConfig, CoreModule } from '@ibhq/core';
import { DatabaseModule } from '@ibhq/db';
import { AccountsModule } from '@ibhq/accounts';
import { AuditModule } from '@ibhq/audit';
import { LeadsModule } from '@ibhq/leads';
import { RedisModule } from '@ibhq/redis';
import { TenantsModule } from '@ibhq/tenants';
import { ApiKeysController } from './accounts/api-keys.controller.js';
import { AuthController } from './accounts/auth.controller.js';
import { InvitationsController, MembersController } from './accounts/members.controller.js';
import { StaffController } from './accounts/staff.controller.js';
import { AuditController } from './audit/audit.controller.js';
import { HealthController } from './health/health.controller.js';
import { ErrorFilter } from './http/error.filter.js';
import { TenantContextInterceptor } from './http/tenant-context.interceptor.js';
import { AuthGuard } from './http/auth.guard.js';
import { LeadsController } from './leads/leads.controller.js';
import { TimelineController } from './leads/timeline.controller.js';
import { LeadListController } from './leads/lead-list.controller.js';
import { SavedViewsController } from './leads/saved-views.controller.js';
import { TagsController } from './leads/tags.controller.js';
import { CustomFieldsController } from './leads/custom-fields.controller.js';
import { AssignmentController } from './leads/assignment.controller.js';
import { PipelineController } from './leads/pipeline.controller.js';
import { BulkController } from './leads/bulk.controller.js';
import { JobsController } from './leads/jobs.controller.js';
import { DuplicatesController } from './leads/duplicates.controller.js';
import { ImportsController } from './leads/imports.controller.js';
import { ExportController } from './leads/export.controller.js';
import { MetricsController } from './metrics/metrics.controller.js';
import { Metrics } from './metrics/metrics.js';
import { TenantController } from './tenants/tenant.controller.js';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logStream?: DestinationStream): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot(config, { service: 'api', logStream }),
        TerminusModule.forRoot({ logger: false }),
        DatabaseModule,
        RedisModule,
        TenantsModule,
        LeadsModule,
        AccountsModule,
        AuditModule,
      ],
      controllers: [
        HealthController,
        MetricsController,
        TenantController,
        LeadsController,
        TimelineController,
        LeadListController,
        SavedViewsController,
        TagsController,
        CustomFieldsController,
        AssignmentController,
        PipelineController,
        BulkController,
        JobsController,
        DuplicatesController,
        ImportsController,
        ExportController,
        AuthController,
        MembersController,
        InvitationsController,
        ApiKeysController,
        StaffController,
        AuditController,
      ],
      providers: [
        Metrics,
        { provide: APP_FILTER, useClass: ErrorFilter },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_INTERCEPTOR, useClass: TenantContextInterceptor },
      ],
    };
  }
}
