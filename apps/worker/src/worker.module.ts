import { type DynamicModule, Module } from '@nestjs/common';
import type { DestinationStream } from 'pino';
import { type AppConfig, CoreModule } from '@ibhq/core';
import { DatabaseModule } from '@ibhq/db';
import { JobWorkersModule } from '@ibhq/jobs';
import { LeadsModule, leadsJobs } from '@ibhq/leads';
import { RedisModule } from '@ibhq/redis';
import { BulkProcessor } from './processors/bulk.processor.js';
import { ImportProcessor } from './processors/import.processor.js';
import { RecordActivityProcessor } from './processors/record-activity.processor.js';

/** Every job the worker runs; boot fails unless each has exactly one processor. */
export const WORKER_JOBS = [...leadsJobs];

@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig, logStream?: DestinationStream): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        CoreModule.forRoot(config, { service: 'worker', logStream }),
        DatabaseModule,
        RedisModule,
        LeadsModule,
        JobWorkersModule.register(WORKER_JOBS),
      ],
      providers: [RecordActivityProcessor, BulkProcessor, ImportProcessor],
    };
  }
}
