import { Readable } from 'node:stream';
import { Controller, Get, Res } from '@nestjs/common';
import { ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import {
  auditExportQuery,
  auditListQuery,
  AuditService,
  type AuditEventView,
  type AuditExportQuery,
  type AuditListQuery,
  type AuditVerifyResult,
} from '@ibhq/audit';
import { Clock, currentTenant, type Page } from '@ibhq/core';
import { Requires } from '../http/access.decorators.js';
import { asDownload } from '../http/download.js';
import { ZQuery } from '../http/zod-params.js';

const CONTENT_TYPES = {
  csv: 'text/csv; charset=utf-8',
  json: 'application/json; charset=utf-8',
} as const;

/** The current tenant's audit trail: list, export, verify (read-only). */
@ApiTags('audit')
@Requires('audit:read')
@Controller('v1/audit-events')
export class AuditController {
  constructor(
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  /** Newest first; filters by actor, action (exact or `prefix.*`) and time range. */
  @Get()
  list(@ZQuery(auditListQuery) query: AuditListQuery): Promise<Page<AuditEventView>> {
    return this.audit.list(query);
  }

  /** Every matching event, oldest first, streamed as CSV or a JSON array (a download). */
  @Get('export')
  @ApiProduces(CONTENT_TYPES.csv, CONTENT_TYPES.json)
  async export(
    @ZQuery(auditExportQuery) query: AuditExportQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Readable> {
    const { format, ...filter } = query;
    // Awaited before any byte is sent: a failure to record the export is an error
    // answer, not a truncated download.
    const chunks = await this.audit.export(format, filter);
    const date = this.clock.now().toISOString().slice(0, 10);
    const filename = `audit-${currentTenant().tenantId}-${date}.${format}`;
    asDownload(reply, CONTENT_TYPES[format], filename);
    return Readable.from(chunks);
  }

  /** Walks the tenant's hash chain and reports the first broken link, if any. */
  @Get('verify')
  verify(): Promise<AuditVerifyResult> {
    return this.audit.verify();
  }
}
