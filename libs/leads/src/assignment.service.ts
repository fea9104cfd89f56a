import { Injectable } from '@nestjs/common';
import type { LeadSource } from './lead-view.js';

/** Round-robin assignment of new leads. OWNER: tags/custom fields/assignment work. */
@Injectable()
export class AssignmentService {
  /**
   * The member whose turn it is for a new lead of `source` (advancing the turn), or
   * null when the source has no rule. Joins an open transaction.
   */
  nextOwner(_source: LeadSource): Promise<string | null> {
    throw new Error('not implemented');
  }
}
