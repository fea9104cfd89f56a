import { Controller, Headers, Post, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiHeader, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { roleAllows, type Permission } from '@ibhq/auth';
import { DomainError, ErrorCode, ValidationError } from '@ibhq/core';
import { BulkService } from '@ibhq/leads';
import type { z } from 'zod';
import { Requires } from '../http/access.decorators.js';
import type { RequestAuth } from '../http/auth.guard.js';
import { Caller } from '../http/request.decorators.js';
import { ZBody } from '../http/zod-params.js';

type BulkBody = z.infer<typeof BulkService.body>;

/**
 * 100,000 ids as JSON are about 3.9 MB: the route may take more than the default
 * body limit (bootstrap applies a route's `config.bodyLimit`).
 */
const BULK_BODY_LIMIT = 8 * 1024 * 1024;

/** Whether the caller (already admitted by the guard) holds `permission`. */
function callerMay(auth: RequestAuth, permission: Permission): boolean {
  switch (auth.kind) {
    case 'session':
      return auth.session.role !== null && roleAllows(auth.session.role, permission);
    case 'api_key':
      return (auth.key.scopes as readonly Permission[]).includes(permission);
    case 'dev':
      return true;
  }
}

/**
 * Bulk update and bulk delete of leads, by ids or by the list's filter, for up to
 * 100,000 leads per call: a background job (poll GET /v1/jobs/:id).
 */
@ApiTags('leads')
@Controller('v1/leads')
export class BulkController {
  constructor(private readonly bulk: BulkService) {}

  /**
   * 202 { jobId, total, status } for a new job. Needs leads:write, and leads:delete
   * for `action.type = delete`. With an `Idempotency-Key` already used for the same
   * request: 200 and that job (nothing started twice); for another request: 409.
   */
  @Post('bulk')
  @Requires('leads:write')
  @RouteConfig({ bodyLimit: BULK_BODY_LIMIT })
  @ApiHeader({ name: 'idempotency-key', required: false })
  @ApiResponse({ status: 202, description: 'The job was created and queued.' })
  @ApiResponse({ status: 200, description: 'The job of an earlier call with this key.' })
  async submit(
    @ZBody(BulkService.body) body: BulkBody,
    @Headers('idempotency-key') rawKey: unknown,
    @Caller() auth: RequestAuth,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const key = BulkService.idempotencyKey.safeParse(rawKey);
    if (!key.success) {
      throw new ValidationError([
        { field: 'headers.idempotency-key', message: key.error.issues[0]?.message ?? 'is invalid' },
      ]);
    }
    if (body.action.type === 'delete' && !callerMay(auth, 'leads:delete')) {
      throw new DomainError(
        ErrorCode.Forbidden,
        'deleting leads needs the permission leads:delete, which your role or key does not have',
      );
    }
    const { accepted, created } = await this.bulk.submit(body, {
      ...(key.data === undefined ? {} : { idempotencyKey: key.data }),
    });
    await reply.status(created ? 202 : 200).send(accepted);
  }
}
