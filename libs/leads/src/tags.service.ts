import { Injectable } from '@nestjs/common';

export interface TagRef {
  readonly id: string;
  readonly name: string;
}

/** Tags of the tenant (many-to-many with leads). OWNER: tags/custom fields/assignment work. */
@Injectable()
export class TagsService {
  /** The named tags (case-insensitive), created when missing. Joins an open transaction. */
  ensure(_names: readonly string[]): Promise<TagRef[]> {
    throw new Error('not implemented');
  }

  /** Makes the lead's tags exactly `names`; answers what changed. Joins an open transaction. */
  setForLead(
    _leadId: string,
    _names: readonly string[],
  ): Promise<{ added: string[]; removed: string[] }> {
    throw new Error('not implemented');
  }

  /** Adds the named tags to every lead of `leadIds` (set-based). Joins an open transaction. */
  addToLeads(_leadIds: readonly string[], _names: readonly string[]): Promise<void> {
    throw new Error('not implemented');
  }

  /** Removes the named tags from every lead of `leadIds`. Joins an open transaction. */
  removeFromLeads(_leadIds: readonly string[], _names: readonly string[]): Promise<void> {
    throw new Error('not implemented');
  }
}
