import type { Readable } from 'node:stream';
import { Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ExportService } from '@ibhq/leads';
import { Requires } from '../http/access.decorators.js';
import { asDownload } from '../http/download.js';
import { DEV_TENANT_HEADER } from '../http/auth.guard.js';
import { ZBody } from '../http/zod-params.js';

/** Lists: repeated or comma-separated, as GET /v1/leads takes them. */
const LIST = { type: 'array', items: { type: 'string' } } as const;

type LeadExport = Awaited<ReturnType<ExportService['start']>>;
type ExportBody = Parameters<ExportService['start']>[0];

function send<S extends Readable | undefined>(
  reply: FastifyReply,
  started: Omit<LeadExport, 'stream'> & { readonly stream: S },
): S {
  asDownload(reply, started.contentType, started.fileName);
  return started.stream;
}

/**
 * The lead export: every lead the list's filter selects, as CSV (a header line, then
 * one line per lead) or JSON lines (GET /v1/leads items' shape), streamed from the
 * database in constant memory, never capped. GET takes the list's filter query
 * parameters; POST takes the shared JSON filter (for filters too long for a URL).
 */
@ApiTags('leads')
@ApiHeader({ name: DEV_TENANT_HEADER, required: false, description: 'Development mode only' })
@Controller('v1/leads/export')
export class ExportController {
  constructor(private readonly exports: ExportService) {}

  @Get()
  @Requires('leads:export')
  @ApiProduces('text/csv', 'application/x-ndjson')
  @ApiQuery({ name: 'format', required: false, enum: ['csv', 'jsonl'] })
  @ApiQuery({ name: 'includeActivities', required: false, enum: ['true', 'false'] })
  @ApiQuery({ name: 'q', required: false, description: 'Free text, as GET /v1/leads' })
  @ApiQuery({ name: 'stageId', required: false, schema: LIST })
  @ApiQuery({ name: 'ownerId', required: false, schema: LIST, description: 'User ids, or none' })
  @ApiQuery({ name: 'tag', required: false, schema: LIST })
  @ApiQuery({ name: 'tagMode', required: false, enum: ['any', 'all'] })
  @ApiQuery({ name: 'source', required: false, schema: LIST })
  @ApiQuery({ name: 'createdFrom', required: false })
  @ApiQuery({ name: 'createdTo', required: false })
  @ApiQuery({ name: 'updatedFrom', required: false })
  @ApiQuery({ name: 'updatedTo', required: false })
  @ApiQuery({ name: 'hasTelegram', required: false, enum: ['true', 'false'] })
  @ApiQuery({ name: 'hasPhone', required: false, enum: ['true', 'false'] })
  @ApiQuery({ name: 'hasEmail', required: false, enum: ['true', 'false'] })
  @ApiQuery({
    name: 'cf.<key>',
    required: false,
    description: 'A custom field value; cf.<key>.gte / cf.<key>.lte: a range',
  })
  async exportByQuery(
    @Query() query: Record<string, unknown>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Readable | string> {
    if (reply.request.method === 'HEAD') {
      send(reply, { ...this.exports.headFromQuery(query), stream: undefined });
      return '';
    }
    return send(reply, await this.exports.startFromQuery(query));
  }

  @Post()
  @Requires('leads:export')
  @HttpCode(200)
  @ApiProduces('text/csv', 'application/x-ndjson')
  async exportByBody(
    @ZBody(ExportService.body) body: ExportBody,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Readable> {
    return send(reply, await this.exports.start(body));
  }
}
