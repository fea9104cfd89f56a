import { Controller, Delete, Get, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { idParam, TenantAdminService } from '@ibhq/accounts';
import { ApiKeyService, createApiKeyBody, type CreateApiKeyBody } from '@ibhq/auth';
import { Requires } from '../http/access.decorators.js';
import type { RequestAuth } from '../http/auth.guard.js';
import { Caller, userIdOf } from '../http/request.decorators.js';
import { ZBody, ZParam } from '../http/zod-params.js';

@ApiTags('api-keys')
@Controller('v1/api-keys')
@Requires('api_keys:manage')
export class ApiKeysController {
  constructor(
    private readonly admin: TenantAdminService,
    private readonly apiKeys: ApiKeyService,
  ) {}

  /** The key is in this answer only: IBHQ keeps its hash. */
  @Post()
  create(@ZBody(createApiKeyBody) body: CreateApiKeyBody, @Caller() auth: RequestAuth) {
    return this.admin.createApiKey({ ...body, createdById: userIdOf(auth) });
  }

  @Get()
  async list() {
    return { items: await this.apiKeys.list() };
  }

  @Delete(':id')
  revoke(@ZParam('id', idParam) id: string) {
    return this.admin.revokeApiKey(id);
  }
}
