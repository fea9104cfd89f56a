import { Readable } from 'node:stream';
import { Controller, Delete, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { DomainError, ErrorCode } from '@ibhq/core';
import { ImportService } from '@ibhq/leads';
import { Requires } from '../http/access.decorators.js';
import { asDownload } from '../http/download.js';
import { ZBody, ZParam, ZQuery } from '../http/zod-params.js';

type UploadQuery = z.infer<typeof ImportService.uploadQuery>;
type StartBody = z.infer<typeof ImportService.startBody>;

/** The path of the upload route: bootstrap.ts hands it (only it) a text/csv body as a stream. */
export const IMPORT_UPLOAD_PATH = '/v1/leads/imports';

/**
 * CSV import of leads: upload the file (the raw text/csv body, streamed), start the
 * job with a mapping, follow it. The rejected rows are in the job's error report
 * (GET /v1/leads/imports/:id/errors.csv, also the job's GET /v1/jobs/:jobId/errors.csv).
 */
@ApiTags('leads')
@Requires('leads:import')
@Controller('v1/leads/imports')
export class ImportsController {
  constructor(private readonly imports: ImportService) {}

  /** 201: the staged file's header, suggested mapping and an earlier import of it. */
  @Post()
  @ApiConsumes('text/csv')
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  upload(
    @ZQuery(ImportService.uploadQuery) query: UploadQuery,
    @Req() request: FastifyRequest,
  ): ReturnType<ImportService['upload']> {
    const body: unknown = request.body;
    if (!(body instanceof Readable)) {
      throw new DomainError(
        ErrorCode.UnsupportedMediaType,
        'body: send the CSV file itself as the body, with Content-Type: text/csv',
      );
    }
    const length = Number(request.headers['content-length']);
    return this.imports.upload(body, {
      ...(query.fileName === undefined ? {} : { fileName: query.fileName }),
      ...(Number.isSafeInteger(length) ? { contentLength: length } : {}),
    });
  }

  /** 202: the job that imports the rows (the same one when started again). */
  @Post(':id/start')
  @HttpCode(202)
  start(
    @ZParam('id', ImportService.idParam) id: string,
    @ZBody(ImportService.startBody) body: StartBody,
  ): ReturnType<ImportService['start']> {
    return this.imports.start(id, body);
  }

  /** Status, progress, counts, the job and its error report. */
  @Get(':id')
  get(@ZParam('id', ImportService.idParam) id: string): ReturnType<ImportService['get']> {
    return this.imports.get(id);
  }

  /** The rejected rows as CSV (rowNumber, field, reason, leadId), streamed; 404 before the start. */
  @Get(':id/errors.csv')
  @ApiProduces('text/csv')
  async errors(
    @ZParam('id', ImportService.idParam) id: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Readable> {
    // Awaited before any byte is sent: a missing import is a 404, not an empty download.
    const chunks = await this.imports.errorReport(id);
    asDownload(reply, 'text/csv; charset=utf-8', `import-${id}-errors.csv`);
    return Readable.from(chunks);
  }

  /** 204: the import and its staged rows are gone (not while it runs: 409). */
  @Delete(':id')
  @HttpCode(204)
  async remove(@ZParam('id', ImportService.idParam) id: string): Promise<void> {
    await this.imports.remove(id);
  }
}
