import { Controller, Delete, Get, HttpCode, Patch, Post, Put } from '@nestjs/common';
import { ApiHeader, ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { PipelineService, type StageView } from '@ibhq/leads';
import { Requires } from '../http/access.decorators.js';
import { DEV_TENANT_HEADER } from '../http/auth.guard.js';
import { ZBody, ZParam, ZQuery } from '../http/zod-params.js';

const dto = PipelineService.dto;
type Dto = typeof dto;

/**
 * The pipeline: stages (list, create, rename, reorder, archive, delete), a lead's
 * time in each stage and the report across stages. Full paths on the methods: the
 * stage history lives under /v1/leads/:id.
 */
@ApiTags('leads')
@ApiHeader({ name: DEV_TENANT_HEADER, required: false, description: 'Development mode only' })
@Controller()
export class PipelineController {
  constructor(private readonly pipeline: PipelineService) {}

  @Get('v1/stages')
  @Requires('leads:read')
  async list(
    @ZQuery(dto.stageListQuery) query: z.infer<Dto['stageListQuery']>,
  ): Promise<{ items: StageView[] }> {
    return { items: await this.pipeline.stages(query) };
  }

  /** Per stage: leads now, entries in [from, to), average and median seconds of stays. */
  @Get('v1/stages/report')
  @Requires('leads:read')
  report(@ZQuery(dto.stageReportQuery) query: z.infer<Dto['stageReportQuery']>) {
    return this.pipeline.report(query);
  }

  @Get('v1/stages/:id')
  @Requires('leads:read')
  get(@ZParam('id', dto.stageIdParam) id: string): Promise<StageView> {
    return this.pipeline.stage(id);
  }

  @Post('v1/stages')
  @Requires('pipeline:manage')
  create(@ZBody(dto.createStageBody) body: z.infer<Dto['createStageBody']>): Promise<StageView> {
    return this.pipeline.create(body);
  }

  /** Every stage that is not archived, in the new order. */
  @Put('v1/stages/order')
  @Requires('pipeline:manage')
  async reorder(
    @ZBody(dto.reorderStagesBody) body: z.infer<Dto['reorderStagesBody']>,
  ): Promise<{ items: StageView[] }> {
    return { items: await this.pipeline.reorder(body) };
  }

  @Patch('v1/stages/:id')
  @Requires('pipeline:manage')
  update(
    @ZParam('id', dto.stageIdParam) id: string,
    @ZBody(dto.updateStageBody) body: z.infer<Dto['updateStageBody']>,
  ): Promise<StageView> {
    return this.pipeline.update(id, body);
  }

  @Post('v1/stages/:id/archive')
  @Requires('pipeline:manage')
  @HttpCode(200)
  archive(@ZParam('id', dto.stageIdParam) id: string): Promise<StageView> {
    return this.pipeline.archive(id);
  }

  @Post('v1/stages/:id/unarchive')
  @Requires('pipeline:manage')
  @HttpCode(200)
  unarchive(@ZParam('id', dto.stageIdParam) id: string): Promise<StageView> {
    return this.pipeline.unarchive(id);
  }

  /** Only a stage no lead is in (409 { leads } otherwise: archive it instead). */
  @Delete('v1/stages/:id')
  @Requires('pipeline:manage')
  @HttpCode(204)
  async delete(@ZParam('id', dto.stageIdParam) id: string): Promise<void> {
    await this.pipeline.delete(id);
  }

  /** The lead's stays in stages, oldest first (keyset pages). */
  @Get('v1/leads/:id/stage-history')
  @Requires('leads:read')
  history(
    @ZParam('id', dto.stageIdParam) id: string,
    @ZQuery(dto.stageHistoryQuery) query: z.infer<Dto['stageHistoryQuery']>,
  ) {
    return this.pipeline.history(id, query);
  }
}
