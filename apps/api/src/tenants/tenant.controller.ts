import { Controller, Get, Patch } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  TenantAdminService,
  tenantSettingsBody,
  type TenantSettingsBody,
  type TenantSettingsView,
} from '@ibhq/accounts';
import { currentTenant } from '@ibhq/core';
import { TenantsService, type TenantView } from '@ibhq/tenants';
import { Requires } from '../http/access.decorators.js';
import { ZBody } from '../http/zod-params.js';

@ApiTags('tenant')
@Controller('v1/tenant')
export class TenantController {
  constructor(
    private readonly tenants: TenantsService,
    private readonly admin: TenantAdminService,
  ) {}

  /** The tenant the request acts for. */
  @Get()
  @Requires('members:read')
  current(): Promise<TenantView> {
    return this.tenants.get(currentTenant().tenantId);
  }

  @Get('settings')
  @Requires('members:read')
  settings(): Promise<TenantSettingsView> {
    return this.admin.settings();
  }

  /** Owners: require 2FA for owners, the API rate limit per key. */
  @Patch('settings')
  @Requires('tenant:manage')
  updateSettings(@ZBody(tenantSettingsBody) body: TenantSettingsBody): Promise<TenantSettingsView> {
    return this.admin.updateSettings(body);
  }
}
