import { Injectable } from '@nestjs/common';
import type { $Enums } from '@ibhq/db';

export interface NewActivity {
  readonly leadId: string;
  readonly kind: $Enums.ActivityKind;
  readonly body?: string;
  /** What changed: `{ changes: { field: { from, to } } }`, stage and owner moves, merges. */
  readonly data?: Record<string, unknown>;
  /** Idempotency for activities from outside (Telegram: account, chat, message id). */
  readonly externalKey?: string;
  readonly dueAt?: Date;
  readonly createdAt?: Date;
}

/** A lead's timeline. OWNER: lead records and timeline work. */
@Injectable()
export class TimelineService {
  /**
   * Appends activities (actor from the context); one with an externalKey already
   * recorded is skipped. Answers the ids, in order (null for a skipped one). Joins an
   * open transaction.
   */
  record(_activities: readonly NewActivity[]): Promise<(string | null)[]> {
    throw new Error('not implemented');
  }
}
