import { Controller, Delete, Get, Headers, HttpCode, Patch, Post, Put, Res } from '@nestjs/common';
import { ApiHeader, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import {
  createLeadBody,
  createLeadQuery,
  leadIdParam,
  LeadsService,
  patchLeadBody,
  versionsFromIfMatch,
  type CreateLeadBody,
  type CreateLeadQuery,
  type LeadView,
  type PatchLeadBody,
} from '@ibhq/leads';
import { Requires } from '../http/access.decorators.js';
import { DEV_TENANT_HEADER } from '../http/auth.guard.js';
import { ZBody, ZParam, ZQuery } from '../http/zod-params.js';

/** A lead with its version as the ETag (for If-Match). */
function sendLead(reply: FastifyReply, status: number, lead: LeadView): FastifyReply {
  return reply
    .status(status)
    .header('etag', `"${String(lead.version)}"`)
    .header('cache-control', 'no-store')
    .send(lead);
}

/**
 * Lead records: create (409 on an existing identity, or merge into it), upsert by
 * identity, read (a merged lead's id redirects to its survivor), partial update with
 * optimistic concurrency (If-Match or body.version), delete. Lists and search are
 * LeadListController; the timeline is TimelineController.
 */
@ApiTags('leads')
@ApiHeader({ name: DEV_TENANT_HEADER, required: false, description: 'Development mode only' })
@Controller('v1/leads')
export class LeadsController {
  constructor(private readonly leads: LeadsService) {}

  /** 201 the new lead; with `?onConflict=merge`, 200 the existing lead updated instead. */
  @Post()
  @Requires('leads:write')
  @ApiResponse({ status: 201, description: 'Created (ETag: its version)' })
  @ApiResponse({ status: 200, description: 'onConflict=merge: the existing lead, updated' })
  @ApiResponse({ status: 409, description: 'An identity exists: details.existingLeadId' })
  async create(
    @ZQuery(createLeadQuery) query: CreateLeadQuery,
    @ZBody(createLeadBody) body: CreateLeadBody,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    if (query.onConflict === 'merge') {
      const { lead, created } = await this.leads.createOrMerge(body);
      return sendLead(reply, created ? 201 : 200, lead);
    }
    return sendLead(reply, 201, await this.leads.create(body));
  }

  /** Idempotent upsert for integrations: 201 created, 200 updated (or unchanged). */
  @Put('by-identity')
  @Requires('leads:write')
  @ApiResponse({ status: 201, description: 'Created' })
  @ApiResponse({ status: 200, description: 'The lead holding the identity, updated' })
  async upsert(
    @ZBody(createLeadBody) body: CreateLeadBody,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    const { lead, created } = await this.leads.upsertByIdentity(body);
    return sendLead(reply, created ? 201 : 200, lead);
  }

  /** The lead (ETag: its version); a merged lead's id answers 308 to its survivor. */
  @Get(':id')
  @Requires('leads:read')
  @ApiResponse({ status: 308, description: 'Merged: Location is the survivor' })
  async get(
    @ZParam('id', leadIdParam) id: string,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    const read = await this.leads.get(id);
    if ('mergedInto' in read) {
      return reply
        .status(308)
        .header('location', `/v1/leads/${read.mergedInto}`)
        .header('cache-control', 'no-store')
        .send({ code: 'MERGED', survivorId: read.mergedInto });
    }
    return sendLead(reply, 200, read.lead);
  }

  /** A partial update; a stale If-Match or body.version is a 409 that changes nothing. */
  @Patch(':id')
  @Requires('leads:write')
  @ApiHeader({ name: 'if-match', required: false, description: 'The version read: "3"' })
  async update(
    @ZParam('id', leadIdParam) id: string,
    @ZBody(patchLeadBody) body: PatchLeadBody,
    @Headers('if-match') ifMatch: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    const lead = await this.leads.update(id, body, versionsFromIfMatch(ifMatch));
    return sendLead(reply, 200, lead);
  }

  @Delete(':id')
  @Requires('leads:delete')
  @HttpCode(204)
  async remove(@ZParam('id', leadIdParam) id: string): Promise<void> {
    await this.leads.delete(id);
  }
}
