import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import { AppConfig, currentTenantOrUndefined, ValidationError } from '@ibhq/core';
import { RedisConnection, redisUnavailable } from '@ibhq/redis';
import type { JobDefinition, TenantJobPayload } from './job-definition.js';
import { jobOptions } from './job-options.js';

const ENQUEUE_TIMEOUT_MS = 5_000;

/**
 * Puts jobs on their queues. The payload is validated against the job's schema
 * first (a 400 naming the field if it does not match), and must belong to the
 * tenant of the current context. If Redis cannot take the job, the caller gets
 * DEPENDENCY_UNAVAILABLE (503): nothing is accepted that is not stored.
 */
@Injectable()
export class JobQueue implements OnApplicationShutdown {
  private readonly logger = new Logger(JobQueue.name);
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly redis: RedisConnection,
    private readonly config: AppConfig,
  ) {}

  async enqueue<P extends TenantJobPayload>(
    def: JobDefinition<P>,
    payload: P,
    options: { jobId?: string; delayMs?: number } = {},
  ): Promise<{ jobId: string }> {
    const parsed = def.payload.safeParse(payload);
    if (!parsed.success) {
      throw new ValidationError(
        parsed.error.issues.map((i) => ({
          field: ['payload', ...i.path.map(String)].join('.'),
          message: i.message,
        })),
      );
    }
    const ctx = currentTenantOrUndefined();
    if (ctx && ctx.tenantId !== parsed.data.tenantId) {
      throw new Error(
        `job ${def.name} for tenant ${parsed.data.tenantId} enqueued from tenant ${ctx.tenantId}`,
      );
    }
    if (!this.redis.reachable) throw redisUnavailable(new Error('Redis connection is down'));
    let timer: NodeJS.Timeout | undefined;
    try {
      const job = await Promise.race([
        this.queue(def.queue).add(def.name, parsed.data, jobOptions(def, this.config, options)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(new Error(`Redis did not take the job within ${ENQUEUE_TIMEOUT_MS} ms`));
          }, ENQUEUE_TIMEOUT_MS);
        }),
      ]);
      return { jobId: job.id ?? '' };
    } catch (e) {
      throw redisUnavailable(e);
    } finally {
      clearTimeout(timer);
    }
  }

  private queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: this.redis.bullConnection('producer'),
        prefix: this.redis.prefix,
      });
      queue.on('error', (err) => {
        this.logger.warn({ err, queue: name }, 'queue connection error');
      });
      this.queues.set(name, queue);
    }
    return queue;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }
}
