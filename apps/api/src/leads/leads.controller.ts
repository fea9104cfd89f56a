import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiHeader, ApiTags } from '@nestjs/swagger';
import type { Page } from '@ibhq/core';
import {
  addNoteBody,
  createLeadBody,
  leadIdParam,
  LeadsService,
  pageQuery,
  type ActivityView,
  type AddNoteBody,
  type CreateLeadBody,
  type LeadSummary as LeadView,
  type PageQuery,
} from '@ibhq/leads';
import { Requires } from '../http/access.decorators.js';
import { DEV_TENANT_HEADER } from '../http/auth.guard.js';
import { ZBody, ZParam, ZQuery } from '../http/zod-params.js';

@ApiTags('leads')
@ApiHeader({ name: DEV_TENANT_HEADER, required: false, description: 'Development mode only' })
@Controller('v1/leads')
export class LeadsController {
  constructor(private readonly leads: LeadsService) {}

  @Post()
  @Requires('leads:write')
  create(@ZBody(createLeadBody) body: CreateLeadBody): Promise<LeadView> {
    return this.leads.create(body);
  }

  @Get()
  @Requires('leads:read')
  list(@ZQuery(pageQuery) query: PageQuery): Promise<Page<LeadView>> {
    return this.leads.list(query);
  }

  @Get(':id')
  @Requires('leads:read')
  get(@ZParam('id', leadIdParam) id: string): Promise<LeadView> {
    return this.leads.get(id);
  }

  /** Accepted now, written to the timeline by the worker (202). */
  @Post(':id/notes')
  @Requires('leads:write')
  @HttpCode(202)
  addNote(
    @ZParam('id', leadIdParam) id: string,
    @ZBody(addNoteBody) body: AddNoteBody,
  ): Promise<{ id: string; status: 'queued' }> {
    return this.leads.addNote(id, body);
  }

  @Get(':id/activities')
  @Requires('leads:read')
  activities(
    @ZParam('id', leadIdParam) id: string,
    @ZQuery(pageQuery) query: PageQuery,
  ): Promise<Page<ActivityView>> {
    return this.leads.listActivities(id, query);
  }
}
