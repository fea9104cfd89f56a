import { z } from 'zod';

/** Every job payload carries its tenant: the worker re-enters that tenant's context. */
export const tenantJobPayload = z.object({ tenantId: z.uuid() });
export type TenantJobPayload = z.infer<typeof tenantJobPayload>;

export interface JobDefinition<P extends TenantJobPayload = TenantJobPayload> {
  /** Unique, dotted: `<domain>.<what>`, e.g. `leads.activity.record`. */
  readonly name: string;
  /** The BullMQ queue that carries it (one worker per queue). */
  readonly queue: string;
  /** Checked when enqueued and again before the handler runs. */
  readonly payload: z.ZodType<P>;
  /** Tries in all, including the first (BullMQ delivers at least once). */
  readonly attempts: number;
  /** First retry delay; doubles on each retry. */
  readonly backoffMs: number;
}

const NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

/**
 * Declares a job: its name, queue and typed payload. Domain libraries declare their
 * jobs; the worker registers one handler for each (see JobHandler) and refuses to
 * boot otherwise.
 */
export function defineJob<P extends TenantJobPayload>(def: {
  name: string;
  queue: string;
  payload: z.ZodType<P>;
  attempts?: number;
  backoffMs?: number;
}): JobDefinition<P> {
  if (!NAME.test(def.name)) throw new Error(`job name "${def.name}" must look like domain.action`);
  if (!/^[a-z][a-z0-9-]*$/.test(def.queue)) throw new Error(`queue name "${def.queue}" is invalid`);
  return Object.freeze({
    name: def.name,
    queue: def.queue,
    payload: def.payload,
    attempts: def.attempts ?? 5,
    backoffMs: def.backoffMs ?? 1_000,
  });
}
