import { Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiHeader, ApiQuery, ApiTags } from '@nestjs/swagger';
import {
  LEAD_SORTS,
  leadListQueryFrom,
  LeadListService,
  leadSearchBody,
  type LeadListPage,
  type LeadSearchBody,
} from '@ibhq/leads';
import { Requires } from '../http/access.decorators.js';
import { DEV_TENANT_HEADER, type RequestAuth } from '../http/auth.guard.js';
import { Caller } from '../http/request.decorators.js';
import { ZBody } from '../http/zod-params.js';
import { readerOf } from './saved-views.controller.js';

const LIST = { type: 'array', items: { type: 'string' } } as const;

/**
 * The lead list: filters that combine, an order, keyset pages (opaque cursor) and a
 * total (exact up to 10,000 matches, else an estimate with exact: false). GET takes
 * the filter as query parameters, POST /search as the shared JSON filter.
 */
@ApiTags('leads')
@ApiHeader({ name: DEV_TENANT_HEADER, required: false, description: 'Development mode only' })
@Controller('v1/leads')
export class LeadListController {
  constructor(private readonly leads: LeadListService) {}

  @Get()
  @Requires('leads:read')
  @ApiQuery({
    name: 'q',
    required: false,
    description:
      'Free text: name, username, phone, e-mail, notes; partial and misspelled words match',
  })
  @ApiQuery({
    name: 'stageId',
    required: false,
    schema: LIST,
    description: 'Repeated or comma-separated',
  })
  @ApiQuery({
    name: 'ownerId',
    required: false,
    schema: LIST,
    description: 'User ids, or none (unassigned)',
  })
  @ApiQuery({
    name: 'tag',
    required: false,
    schema: LIST,
    description: 'Tag names (case-insensitive)',
  })
  @ApiQuery({ name: 'tagMode', required: false, enum: ['any', 'all'] })
  @ApiQuery({ name: 'source', required: false, schema: LIST })
  @ApiQuery({ name: 'createdFrom', required: false, description: 'ISO date or date-time' })
  @ApiQuery({
    name: 'createdTo',
    required: false,
    description: 'ISO date (the whole day) or date-time',
  })
  @ApiQuery({ name: 'updatedFrom', required: false })
  @ApiQuery({ name: 'updatedTo', required: false })
  @ApiQuery({ name: 'hasTelegram', required: false, enum: ['true', 'false'] })
  @ApiQuery({ name: 'hasPhone', required: false, enum: ['true', 'false'] })
  @ApiQuery({ name: 'hasEmail', required: false, enum: ['true', 'false'] })
  @ApiQuery({
    name: 'cf.<key>',
    required: false,
    description:
      'A custom field value (repeat for any of several); cf.<key>.gte / cf.<key>.lte: a number or date range',
  })
  @ApiQuery({ name: 'sort', required: false, enum: LEAD_SORTS })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 200, default 50' })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiQuery({
    name: 'viewId',
    required: false,
    description: 'Apply a saved view (its filter and sort)',
  })
  list(
    @Query() query: Record<string, unknown>,
    @Caller() auth: RequestAuth,
  ): Promise<LeadListPage> {
    return this.leads.list(leadListQueryFrom(query), readerOf(auth));
  }

  @Post('search')
  @Requires('leads:read')
  @HttpCode(200)
  search(
    @ZBody(leadSearchBody) body: LeadSearchBody,
    @Caller() auth: RequestAuth,
  ): Promise<LeadListPage> {
    const { filter, cursor, ...rest } = body;
    return this.leads.list(
      { ...rest, ...(cursor ? { cursor } : {}), filter: filter ?? {}, source: 'body' },
      readerOf(auth),
    );
  }
}
