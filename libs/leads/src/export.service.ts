import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { AuditService } from '@ibhq/audit';
import { Clock, currentTenant } from '@ibhq/core';
import { TenantDb } from '@ibhq/db';
import {
  EXPORT_CONTENT_TYPES,
  EXPORT_COPY_OPTIONS,
  exportAuditMetadata,
  exportBody,
  exportRequestFromQuery,
  exportCsvSql,
  exportFileName,
  exportJsonlSql,
  type ExportRequest,
} from './export-format.js';
import { CustomFieldsService } from './custom-fields.service.js';
import { LEAD_SEARCH_SETTINGS_SQL } from './lead-filter.js';

/** A started export: the bytes and how to label them. */
export interface LeadExport {
  readonly stream: Readable;
  readonly contentType: string;
  /** The download's dated name, e.g. `leads-2026-01-31.csv`. */
  readonly fileName: string;
}

/**
 * The lead export, CSV or JSON lines, of the leads the list's filter selects (in
 * (createdAt, id) order), streamed by PostgreSQL itself: one `COPY (SELECT ...) TO
 * STDOUT` on one connection in the tenant's scope (TenantDb.copyTo), so row-level
 * security confines it exactly as the list (another tenant's leads never, an agent
 * who sees only their own leads only theirs). Memory stays flat whatever the size:
 * the bytes pass through one stream with backpressure from the client to the
 * database; nothing is capped, paged with OFFSET or throttled. Recorded in the
 * audit trail ('lead.exported') before the first byte.
 */
@Injectable()
export class ExportService {
  /** POST /v1/leads/export's body schema (`{ format?, filter?, includeActivities? }`). */
  static readonly body = exportBody;

  constructor(
    private readonly db: TenantDb,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly customFields: CustomFieldsService,
  ) {}

  /** GET /v1/leads/export: `format`, `includeActivities` and the list's filter parameters. */
  startFromQuery(query: Readonly<Record<string, unknown>> | null | undefined): Promise<LeadExport> {
    return this.start(exportRequestFromQuery(query));
  }

  /**
   * What GET would send, without exporting (HEAD: Fastify would otherwise run the
   * whole export and discard it): the query is validated the same way.
   */
  headFromQuery(
    query: Readonly<Record<string, unknown>> | null | undefined,
  ): Omit<LeadExport, 'stream'> {
    const { format } = exportRequestFromQuery(query);
    return {
      contentType: EXPORT_CONTENT_TYPES[format],
      fileName: exportFileName(format, this.clock.now()),
    };
  }

  async start(request: ExportRequest): Promise<LeadExport> {
    const { tenantId } = currentTenant('ExportService.start');
    const customFields = request.format === 'csv' ? await this.customFields.definitions() : [];
    // Recorded before any byte is sent: an export that cannot be audited is an error
    // answer, never an unrecorded download.
    await this.audit.record({
      action: 'lead.exported',
      targetType: 'lead',
      metadata: exportAuditMetadata(request),
    });
    const statement =
      request.format === 'csv'
        ? exportCsvSql(request.filter, tenantId, customFields, request.includeActivities)
        : exportJsonlSql(request.filter, tenantId, request.includeActivities);
    const search = request.filter.q !== undefined;
    const stream = this.db.copyTo(statement, {
      copyOptions: EXPORT_COPY_OPTIONS[request.format],
      // The free-text filter's misspelling tolerance, as the list sets it.
      ...(search
        ? {
            before: async (query) => {
              await query(LEAD_SEARCH_SETTINGS_SQL);
            },
          }
        : {}),
    });
    return {
      stream,
      contentType: EXPORT_CONTENT_TYPES[request.format],
      fileName: exportFileName(request.format, this.clock.now()),
    };
  }
}
