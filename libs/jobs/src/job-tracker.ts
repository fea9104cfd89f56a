import { Injectable } from '@nestjs/common';
import type { Page } from '@ibhq/core';

/** One failure inside a job: which lead, or which CSV row and field, and why. */
export interface JobErrorInput {
  readonly leadId?: string;
  readonly rowNumber?: number;
  readonly field?: string;
  readonly reason: string;
}

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed';

/** What GET /v1/jobs/:id shows. */
export interface JobView {
  readonly id: string;
  readonly kind: string;
  readonly status: JobStatus;
  readonly total: number;
  readonly done: number;
  readonly failed: number;
  /** The first failures (at most 100); the whole list is paged at /v1/jobs/:id/errors. */
  readonly errors: readonly JobErrorInput[];
  readonly result: Record<string, unknown> | null;
  readonly error: string | null;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
}

/**
 * Progress of long-running work (bulk updates, imports) in PostgreSQL, for the
 * current tenant: BullMQ forgets finished jobs within 24 hours and holds no customer
 * data; this row is what the caller polls. Every method runs in the current tenant
 * context and joins an open TenantDb transaction.
 */
@Injectable()
export class JobTracker {
  /**
   * A new job, or the existing one with the same (kind, idempotencyKey): a retried
   * request never starts the work twice. The actor comes from the tenant context.
   */
  create(
    _kind: string,
    _params: Record<string, unknown>,
    _options: { idempotencyKey?: string; total?: number } = {},
  ): Promise<{ job: JobView; created: boolean }> {
    throw new Error('not implemented');
  }

  /** The job's parameters and where a resumed run continues; marks it running. */
  start(_id: string): Promise<{
    kind: string;
    params: Record<string, unknown>;
    checkpoint: string | null;
    status: JobStatus;
  }> {
    throw new Error('not implemented');
  }

  /** Adds to done/failed, stores the checkpoint and the errors, in one transaction. */
  progress(
    _id: string,
    _delta: { done?: number; failed?: number; checkpoint?: string; total?: number },
    _errors?: readonly JobErrorInput[],
  ): Promise<void> {
    throw new Error('not implemented');
  }

  complete(_id: string, _result: Record<string, unknown>): Promise<void> {
    throw new Error('not implemented');
  }

  /** `message` is shown to the caller: no internals. */
  fail(_id: string, _message: string): Promise<void> {
    throw new Error('not implemented');
  }

  /** NotFoundError('job') for a missing or another tenant's job. */
  get(_id: string): Promise<JobView> {
    throw new Error('not implemented');
  }

  /** All of a job's errors, in order (keyset pages). */
  errors(_id: string, _page: { limit: number; cursor?: string }): Promise<Page<JobErrorInput>> {
    throw new Error('not implemented');
  }
}
