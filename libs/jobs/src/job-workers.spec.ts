import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  AppConfig,
  asTenantId,
  CoreModule,
  currentTenant,
  runWithTenant,
  ValidationError,
  type TenantId,
} from '@ibhq/core';
import { defineJob, tenantJobPayload } from './job-definition.js';
import { JobHandler, type JobHandlerOf } from './job-handler.js';
import { JobQueue } from './job-queue.js';
import { JobRegistryError, JobWorkers } from './job-workers.js';
import { JobsModule, JobWorkersModule } from './jobs.module.js';

const config = (extra: Record<string, string> = {}) =>
  AppConfig.load({ ...process.env, WORKER_CONCURRENCY: '2', ...extra });

const as = <T>(tenantId: TenantId, fn: () => T): T =>
  runWithTenant({ tenantId, actor: { type: 'system', id: 'test' } }, fn);

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function testJob(queue = `q${randomUUID().slice(0, 8)}`) {
  return defineJob({
    name: 'test.echo',
    queue,
    payload: tenantJobPayload.extend({ text: z.string().min(1), delayMs: z.number().optional() }),
    attempts: 2,
    backoffMs: 10,
  });
}

type EchoPayload = z.infer<ReturnType<typeof testJob>['payload']>;

const seen: { payload: EchoPayload; tenantInContext: string; jobId: string }[] = [];

function handlerFor(def: ReturnType<typeof testJob>) {
  @Injectable()
  @JobHandler(def)
  class EchoHandler implements JobHandlerOf<EchoPayload> {
    async handle(payload: EchoPayload, run: { jobId: string }): Promise<string> {
      if (payload.delayMs) await new Promise((r) => setTimeout(r, payload.delayMs));
      seen.push({ payload, tenantInContext: currentTenant().tenantId, jobId: run.jobId });
      return payload.text;
    }
  }
  return EchoHandler;
}

async function boot(
  defs: ReturnType<typeof testJob>[],
  handlers: (new () => object)[],
  cfg = config(),
) {
  const moduleRef = await Test.createTestingModule({
    imports: [CoreModule.forRoot(cfg), JobsModule, JobWorkersModule.register(defs)],
    providers: handlers,
  }).compile();
  return moduleRef.init();
}

describe('jobs', () => {
  const open: { close(): Promise<unknown> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((a) => a.close()));
  });

  it('runs a job in the tenant context of its payload', async () => {
    const def = testJob();
    const app = await boot([def], [handlerFor(def)]);
    open.push(app);
    const tenant = asTenantId(randomUUID());
    const text = randomUUID();
    const { jobId } = await as(tenant, () =>
      app.get(JobQueue).enqueue(def, { tenantId: tenant, text }),
    );
    await until(() => seen.some((s) => s.payload.text === text));
    const run = seen.find((s) => s.payload.text === text)!;
    expect(run.tenantInContext).toBe(tenant);
    expect(run.jobId).toBe(jobId);
  });

  it('rejects an invalid payload before it reaches Redis, naming the field', async () => {
    const def = testJob();
    const app = await boot([def], [handlerFor(def)]);
    open.push(app);
    const tenant = asTenantId(randomUUID());
    const error = await app
      .get(JobQueue)
      .enqueue(def, { tenantId: tenant, text: '' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields[0]?.field).toBe('payload.text');
  });

  it('refuses to enqueue a job of another tenant from a tenant context', async () => {
    const def = testJob();
    const app = await boot([def], [handlerFor(def)]);
    open.push(app);
    const [a, b] = [asTenantId(randomUUID()), asTenantId(randomUUID())];
    await expect(
      as(a, () => app.get(JobQueue).enqueue(def, { tenantId: b, text: 'x' })),
    ).rejects.toThrow(/enqueued from tenant/);
  });

  it('stores jobs with retention of at most 24 hours', async () => {
    const def = testJob();
    const app = await boot([def], [handlerFor(def)]);
    open.push(app);
    const tenant = asTenantId(randomUUID());
    const { jobId } = await app
      .get(JobQueue)
      .enqueue(def, { tenantId: tenant, text: 'later' }, { delayMs: 60_000 });
    const queue = new Queue(def.queue, {
      connection: { url: process.env.REDIS_URL! },
      prefix: process.env.REDIS_KEY_PREFIX!,
    });
    try {
      const job = await queue.getJob(jobId);
      expect(job?.opts.removeOnComplete).toEqual({ age: 3600 });
      expect(job?.opts.removeOnFail).toEqual({ age: 86_400 });
      await job?.remove();
    } finally {
      await queue.close();
    }
  });

  it('sweeps finished jobs past their retention out of Redis', async () => {
    const def = testJob();
    const app = await boot([def], [handlerFor(def)], config({ JOB_KEEP_COMPLETED_SECONDS: '1' }));
    open.push(app);
    const tenant = asTenantId(randomUUID());
    const text = randomUUID();
    const { jobId } = await app.get(JobQueue).enqueue(def, { tenantId: tenant, text });
    await until(() => seen.some((s) => s.payload.text === text));
    const queue = new Queue(def.queue, {
      connection: { url: process.env.REDIS_URL! },
      prefix: process.env.REDIS_KEY_PREFIX!,
    });
    try {
      await until(async () => (await queue.getJobState(jobId)) === 'completed');
      // No other job completes on this queue, so BullMQ's own trimming never runs.
      await new Promise((r) => setTimeout(r, 1_100));
      expect(await queue.getJobState(jobId)).toBe('completed');
      expect(await app.get(JobWorkers).sweep()).toBeGreaterThanOrEqual(1);
      expect(await queue.getJob(jobId)).toBeUndefined();
    } finally {
      await queue.close();
    }
  });

  it('fails a malformed payload at once, without running the handler or retrying', async () => {
    const def = testJob();
    const app = await boot([def], [handlerFor(def)]);
    open.push(app);
    const queue = new Queue(def.queue, {
      connection: { url: process.env.REDIS_URL! },
      prefix: process.env.REDIS_KEY_PREFIX!,
    });
    try {
      const marker = randomUUID();
      const job = await queue.add(
        def.name,
        { tenantId: 'not-a-uuid', text: marker },
        { attempts: 3 },
      );
      await until(async () => (await queue.getJobState(job.id!)) === 'failed');
      const failed = await queue.getJob(job.id!);
      expect(failed?.attemptsMade).toBe(1);
      expect(failed?.failedReason).toMatch(/invalid payload.*tenantId/);
      expect(seen.some((s) => s.payload.text === marker)).toBe(false);
    } finally {
      await queue.close();
    }
  });

  it('finishes a running job before shutting down', async () => {
    const def = testJob();
    const app = await boot([def], [handlerFor(def)]);
    const tenant = asTenantId(randomUUID());
    const text = randomUUID();
    const queue = new Queue(def.queue, {
      connection: { url: process.env.REDIS_URL! },
      prefix: process.env.REDIS_KEY_PREFIX!,
    });
    try {
      const { jobId } = await app
        .get(JobQueue)
        .enqueue(def, { tenantId: tenant, text, delayMs: 400 });
      await until(async () => (await queue.getJobState(jobId)) === 'active');
      await app.close();
      expect(seen.some((s) => s.payload.text === text)).toBe(true);
      expect(await queue.getJobState(jobId)).toBe('completed');
    } finally {
      await queue.close();
    }
  });

  describe('boot refuses a registry that does not match', () => {
    it('a declared job without a handler', async () => {
      const def = testJob();
      await expect(boot([def], [])).rejects.toThrow(JobRegistryError);
      await expect(boot([def], [])).rejects.toThrow(/job "test.echo" has no handler/);
    });

    it('two handlers for one job', async () => {
      const def = testJob();
      await expect(boot([def], [handlerFor(def), handlerFor(def)])).rejects.toThrow(
        /has two handlers/,
      );
    });

    it('a handler for a job that is not declared', async () => {
      const def = testJob();
      const other = defineJob({ name: 'test.other', queue: def.queue, payload: tenantJobPayload });
      await expect(boot([def], [handlerFor(def), handlerFor(other as never)])).rejects.toThrow(
        /handles "test.other", which is not a declared job/,
      );
    });
  });
});
