import { type DynamicModule, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { RedisModule } from '@ibhq/redis';
import type { JobDefinition } from './job-definition.js';
import { JobQueue } from './job-queue.js';
import { JOB_DEFINITIONS, JobWorkers } from './job-workers.js';

/** Producing jobs: JobQueue. */
@Module({ imports: [RedisModule], providers: [JobQueue], exports: [JobQueue] })
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
