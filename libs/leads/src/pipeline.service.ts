import { Injectable } from '@nestjs/common';
import type { $Enums } from '@ibhq/db';

export interface StageView {
  readonly id: string;
  readonly name: string;
  readonly kind: $Enums.StageKind;
  readonly position: number;
  readonly archivedAt: Date | null;
}

export interface StageMove {
  readonly leadId: string;
  readonly fromStageId: string | null;
  readonly toStageId: string;
}

/** The tenant's pipeline (ordered stages) and stage history. OWNER: pipeline work. */
@Injectable()
export class PipelineService {
  /** Every stage by position (the default funnel is seeded on first use). */
  stages(_options: { includeArchived?: boolean } = {}): Promise<StageView[]> {
    throw new Error('not implemented');
  }

  /**
   * A stage a lead may be put in: NotFoundError for a missing one, ValidationError
   * naming `field` for an archived one.
   */
  usable(_stageId: string, _field: string): Promise<StageView> {
    throw new Error('not implemented');
  }

  /**
   * Records moves (a LeadStageChange row and a stage_changed activity each, actor
   * from the context). The caller has already updated the leads. Joins an open
   * transaction.
   */
  recordMoves(_moves: readonly StageMove[]): Promise<void> {
    throw new Error('not implemented');
  }
}
