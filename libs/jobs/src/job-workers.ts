import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { AppConfig, asTenantId, runWithTenant } from '@ibhq/core';
import { RedisConnection } from '@ibhq/redis';
import type { JobDefinition, TenantJobPayload } from './job-definition.js';
import { jobHandlerMetadata, type JobHandlerOf } from './job-handler.js';

export const JOB_DEFINITIONS = Symbol('JOB_DEFINITIONS');

/** How often finished jobs past their retention are deleted. */
const SWEEP_INTERVAL_MS = 10 * 60 * 1000;

interface Registered {
  readonly def: JobDefinition;
  readonly handler: JobHandlerOf<TenantJobPayload>;
}

/** Thrown at boot when the declared jobs and the discovered handlers do not match. */
export class JobRegistryError extends Error {
  constructor(problems: readonly string[]) {
    super(`Job handlers do not match the declared jobs:\n  - ${problems.join('\n  - ')}`);
    this.name = 'JobRegistryError';
  }
}

/**
 * Matches every declared job with exactly one handler at boot (a missing, duplicate
 * or undeclared handler stops the process), then runs one BullMQ worker per queue.
 * Each job's payload is checked again and its handler runs inside the payload's
 * tenant context. On shutdown it stops taking jobs and waits for the running ones;
 * after SHUTDOWN_TIMEOUT_MS it closes anyway, and BullMQ hands the unfinished jobs
 * to another worker once their locks lapse (at least once, never lost).
 */
@Injectable()
export class JobWorkers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(JobWorkers.name);
  private readonly registry = new Map<string, Registered>();
  private readonly workers: Worker[] = [];
  private readonly queues: Queue[] = [];
  private janitor: NodeJS.Timeout | undefined;

  constructor(
    @Inject(JOB_DEFINITIONS) private readonly definitions: readonly JobDefinition[],
    private readonly discovery: DiscoveryService,
    private readonly redis: RedisConnection,
    private readonly config: AppConfig,
  ) {}

  /** Names of the queues this process works on. */
  get queueNames(): string[] {
    return [...new Set(this.definitions.map((d) => d.queue))];
  }

  onApplicationBootstrap(): void {
    this.register();
    for (const name of this.queueNames) {
      this.workers.push(this.startWorker(name));
      const queue = new Queue(name, {
        connection: this.redis.bullConnection('worker'),
        prefix: this.redis.prefix,
      });
      queue.on('error', (err) => {
        this.logger.error({ err, queue: name }, 'queue error');
      });
      this.queues.push(queue);
    }
    this.janitor = setInterval(() => {
      this.sweep().catch((err: unknown) => {
        this.logger.warn({ err }, 'sweep of finished jobs failed');
      });
    }, SWEEP_INTERVAL_MS);
    this.janitor.unref();
    this.logger.log(
      { queues: this.queueNames, jobs: [...this.registry.keys()] },
      'job workers started',
    );
  }

  /**
   * Deletes finished jobs older than their retention. BullMQ trims by age only when
   * another job finishes, so on a quiet queue old jobs (and their payloads) would
   * stay; this sweep bounds their stay to the retention plus SWEEP_INTERVAL_MS.
   */
  async sweep(): Promise<number> {
    const { keepCompletedSeconds, keepFailedSeconds } = this.config.worker;
    let removed = 0;
    for (const queue of this.queues) {
      for (const [state, keepSeconds] of [
        ['completed', keepCompletedSeconds],
        ['failed', keepFailedSeconds],
      ] as const) {
        let batch: string[];
        do {
          batch = await queue.clean(keepSeconds * 1000, 1000, state);
          removed += batch.length;
        } while (batch.length === 1000);
      }
    }
    return removed;
  }

  private register(): void {
    const problems: string[] = [];
    const declared = new Map<string, JobDefinition>();
    for (const def of this.definitions) {
      if (declared.has(def.name)) problems.push(`job "${def.name}" is declared twice`);
      declared.set(def.name, def);
    }
    for (const wrapper of this.discovery.getProviders({ metadataKey: jobHandlerMetadata.KEY })) {
      const def = this.discovery.getMetadataByDecorator(jobHandlerMetadata, wrapper);
      const instance = wrapper.instance as Partial<JobHandlerOf<TenantJobPayload>> | undefined;
      if (!def || !instance) continue;
      const where = String(wrapper.name);
      if (!declared.has(def.name)) {
        problems.push(`${where} handles "${def.name}", which is not a declared job`);
      } else if (this.registry.has(def.name)) {
        problems.push(`job "${def.name}" has two handlers (${where} and another)`);
      } else if (typeof instance.handle !== 'function') {
        problems.push(`${where} has no handle() method`);
      } else {
        this.registry.set(def.name, { def, handler: instance as JobHandlerOf<TenantJobPayload> });
      }
    }
    for (const name of declared.keys()) {
      if (!this.registry.has(name)) problems.push(`job "${name}" has no handler`);
    }
    if (problems.length > 0) throw new JobRegistryError(problems);
  }

  private startWorker(queue: string): Worker {
    const worker = new Worker(queue, (job) => this.process(job), {
      connection: this.redis.bullConnection('worker'),
      prefix: this.redis.prefix,
      concurrency: this.config.worker.concurrency,
    });
    worker.on('failed', (job, err) => {
      this.logger.warn(
        {
          jobId: job?.id,
          job: job?.name,
          tenantId: tenantOf(job),
          attempt: job?.attemptsMade,
          err,
        },
        'job failed',
      );
    });
    worker.on('error', (err) => {
      this.logger.error({ err, queue }, 'worker error');
    });
    return worker;
  }

  private async process(job: Job): Promise<unknown> {
    const entry = this.registry.get(job.name);
    if (!entry) throw new UnrecoverableError(`no handler for job "${job.name}"`);
    const parsed = entry.def.payload.safeParse(job.data);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => i.path.join('.') || '(payload)').join(', ');
      throw new UnrecoverableError(`invalid payload for "${job.name}" (fields: ${fields})`);
    }
    const tenantId = asTenantId(parsed.data.tenantId);
    const started = Date.now();
    const result = await runWithTenant(
      { tenantId, actor: { type: 'system', id: `job:${job.name}` } },
      () =>
        entry.handler.handle(parsed.data, { jobId: job.id ?? '', attempt: job.attemptsMade + 1 }),
    );
    this.logger.log(
      { jobId: job.id, job: job.name, tenantId, ms: Date.now() - started },
      'job completed',
    );
    return result;
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.janitor);
    const timeoutMs = this.config.worker.shutdownTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const graceful = Promise.all(this.workers.map((w) => w.close()));
    const timedOut = await Promise.race([
      graceful.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => {
          resolve(true);
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.logger.warn({ timeoutMs }, 'running jobs did not finish in time; handing them back');
      await Promise.all(this.workers.map((w) => w.close(true)));
    }
    await Promise.allSettled(this.queues.map((q) => q.close()));
    this.logger.log('job workers stopped');
  }
}

function tenantOf(job: Job | undefined): unknown {
  const data: unknown = job?.data;
  return typeof data === 'object' && data !== null && 'tenantId' in data
    ? data.tenantId
    : undefined;
}
