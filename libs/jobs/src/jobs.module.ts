import { type DynamicModule, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { DatabaseModule } from '@ibhq/db';
import { RedisModule } from '@ibhq/redis';
import type { JobDefinition } from './job-definition.js';
import { JobQueue } from './job-queue.js';
import { JobTracker } from './job-tracker.js';
import { JOB_DEFINITIONS, JobWorkers } from './job-workers.js';

/** Producing jobs (JobQueue) and following their progress (JobTracker). */
@Module({
  imports: [RedisModule, DatabaseModule],
  providers: [JobQueue, JobTracker],
  exports: [JobQueue, JobTracker],
})
export class JobsModule {}

/** Running jobs (the worker process): every declared job, matched to its handler. */
@Module({})
export class JobWorkersModule {
  static register(jobs: readonly JobDefinition[]): DynamicModule {
    return {
      module: JobWorkersModule,
      imports: [RedisModule, DiscoveryModule],
      providers: [{ provide: JOB_DEFINITIONS, useValue: jobs }, JobWorkers],
      exports: [JobWorkers],
    };
  }
}
