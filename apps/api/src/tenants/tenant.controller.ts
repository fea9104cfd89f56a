import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { currentTenant } from '@ibhq/core';
import { TenantsService, type TenantView } from '@ibhq/tenants';

@ApiTags('tenant')
@Controller('v1/tenant')
export class TenantController {
  constructor(private readonly tenants: TenantsService) {}

  /** The tenant the request acts for. */
  @Get()
  current(): Promise<TenantView> {
    return this.tenants.get(currentTenant().tenantId);
  }
}
