import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { DuplicatesService, leadIdParam, MergeService, type LeadView } from '@ibhq/leads';
import { Requires } from '../http/access.decorators.js';
import { ZBody, ZParam, ZQuery } from '../http/zod-params.js';

const { duplicatesQuery, dismissDuplicateBody } = DuplicatesService.dto;
const { mergeBody } = MergeService.dto;
type DuplicatesQuery = z.infer<typeof duplicatesQuery>;
type DismissBody = z.infer<typeof dismissDuplicateBody>;
type MergeBody = z.infer<typeof mergeBody>;
type DuplicatesPage = ReturnType<DuplicatesService['list']>;

/** Likely duplicates (pairs with reasons and a score), dismissing a pair, and merging. */
@ApiTags('leads')
@Controller('v1/leads')
export class DuplicatesController {
  constructor(
    private readonly duplicates: DuplicatesService,
    private readonly merges: MergeService,
  ) {}

  /** Candidate pairs of the tenant, best first (keyset pages). */
  @Get('duplicates')
  @Requires('leads:read')
  list(@ZQuery(duplicatesQuery) query: DuplicatesQuery): DuplicatesPage {
    return this.duplicates.list(query);
  }

  /** Never propose this pair again (204, also when it was dismissed before). */
  @Post('duplicates/dismiss')
  @Requires('leads:write')
  @HttpCode(204)
  async dismiss(@ZBody(dismissDuplicateBody) body: DismissBody): Promise<void> {
    await this.duplicates.dismiss(body);
  }

  /** Merges `mergedIds` into `survivorId` in one transaction; answers the survivor. */
  @Post('merge')
  @Requires('leads:write')
  @HttpCode(200)
  merge(@ZBody(mergeBody) body: MergeBody): Promise<LeadView> {
    return this.merges.merge(body);
  }

  /** The candidates of one lead (that lead first in each pair). */
  @Get(':id/duplicates')
  @Requires('leads:read')
  forLead(
    @ZParam('id', leadIdParam) id: string,
    @ZQuery(duplicatesQuery) query: DuplicatesQuery,
  ): DuplicatesPage {
    return this.duplicates.forLead(id, query);
  }
}
