import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { currentTenant, decodeCursor, encodeCursor, NotFoundError, type Page } from '@ibhq/core';
import { Prisma, TenantDb, type Lead, type LeadActivity } from '@ibhq/db';
import { JobQueue } from '@ibhq/jobs';
import type {
  ActivityView,
  AddNoteBody,
  CreateLeadBody,
  LeadSummary as LeadView,
  PageQuery,
} from './leads.dto.js';
import { recordActivityJob, type RecordActivityPayload } from './leads.jobs.js';

const leadView = (l: Lead): LeadView => ({
  id: l.id,
  displayName: l.displayName,
  createdAt: l.createdAt,
  updatedAt: l.updatedAt,
});

const activityView = (a: LeadActivity): ActivityView => ({
  id: a.id,
  leadId: a.leadId,
  kind: a.kind,
  body: a.body,
  createdAt: a.createdAt,
});

/** Newest first, keyset on (createdAt, id). */
function keyset(query: PageQuery) {
  if (!query.cursor) return {};
  const [createdAt, id] = decodeCursor(query.cursor, ['date', 'string']) as [Date, string];
  return {
    OR: [{ createdAt: { lt: createdAt } }, { createdAt, id: { lt: id } }],
  };
}

function page<T extends { createdAt: Date; id: string }, V>(
  rows: T[],
  limit: number,
  view: (row: T) => V,
): Page<V> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items: items.map(view),
    nextCursor:
      rows.length > limit && last ? encodeCursor([last.createdAt.toISOString(), last.id]) : null,
  };
}

/**
 * Leads and their timelines, for the current tenant. (The CRM issue grows this into
 * the full product; the platform issue needs its skeleton to prove isolation.)
 */
@Injectable()
export class LeadsService {
  private readonly logger = new Logger(LeadsService.name);

  constructor(
    private readonly db: TenantDb,
    private readonly jobs: JobQueue,
  ) {}

  async create(input: CreateLeadBody): Promise<LeadView> {
    const { tenantId } = currentTenant();
    return this.db.transaction(async (tx) => {
      const lead = await tx.lead.create({ data: { tenantId, displayName: input.displayName } });
      await tx.leadActivity.create({
        data: { tenantId, leadId: lead.id, kind: 'system', body: 'Lead created' },
      });
      return leadView(lead);
    });
  }

  /** The hottest read of the CRM (a lead's page): one indexed row, in raw SQL. */
  async get(id: string): Promise<LeadView> {
    const { tenantId } = currentTenant();
    const [lead] = await this.db.query<LeadView>(
      Prisma.sql`SELECT "id", "displayName", "createdAt", "updatedAt" FROM "Lead"
                 WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid`,
    );
    if (!lead) throw new NotFoundError('lead');
    return lead;
  }

  async list(query: PageQuery): Promise<Page<LeadView>> {
    const rows = await this.db.lead.findMany({
      where: keyset(query),
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: query.limit + 1,
    });
    return page(rows, query.limit, leadView);
  }

  /**
   * Accepts a note for the lead's timeline; the worker writes it. Answers with the
   * activity's id at once. A missing lead is a 404 now, not a failed job later.
   */
  async addNote(leadId: string, input: AddNoteBody): Promise<{ id: string; status: 'queued' }> {
    await this.get(leadId);
    const { tenantId } = currentTenant();
    const activityId = randomUUID();
    await this.jobs.enqueue(
      recordActivityJob,
      { tenantId, activityId, leadId, kind: 'note', body: input.body },
      { jobId: activityId },
    );
    return { id: activityId, status: 'queued' };
  }

  /** Worker side of addNote. Idempotent: a second delivery inserts nothing. */
  async recordActivity(p: RecordActivityPayload): Promise<'recorded' | 'duplicate' | 'lead-gone'> {
    const { tenantId } = currentTenant();
    try {
      const { count } = await this.db.leadActivity.createMany({
        data: [{ tenantId, id: p.activityId, leadId: p.leadId, kind: p.kind, body: p.body }],
        skipDuplicates: true,
      });
      return count === 1 ? 'recorded' : 'duplicate';
    } catch (e) {
      // The lead was deleted after the note was accepted: nothing left to attach to.
      if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2003') {
        this.logger.warn(
          { leadId: p.leadId, activityId: p.activityId },
          'lead gone; activity dropped',
        );
        return 'lead-gone';
      }
      throw e;
    }
  }

  async listActivities(leadId: string, query: PageQuery): Promise<Page<ActivityView>> {
    const { tenantId } = currentTenant();
    return this.db.transaction(async (tx) => {
      const lead = await tx.lead.findUnique({
        where: { tenantId_id: { tenantId, id: leadId } },
        select: { id: true },
      });
      if (!lead) throw new NotFoundError('lead');
      const rows = await tx.leadActivity.findMany({
        where: { leadId, ...keyset(query) },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: query.limit + 1,
      });
      return page(rows, query.limit, activityView);
    });
  }
}
