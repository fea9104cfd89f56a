import { Controller, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  type CurrentSession,
  staffAccessBody,
  type StaffAccessBody,
  TenantAdminService,
} from '@ibhq/accounts';
import type { ClientInfo } from '@ibhq/core';
import { SignedIn } from '../http/access.decorators.js';
import { Client, UserSession } from '../http/request.decorators.js';
import { ZBody } from '../http/zod-params.js';

@ApiTags('staff')
@Controller('v1/staff')
export class StaffController {
  constructor(private readonly admin: TenantAdminService) {}

  /**
   * Break-glass: IBHQ staff (STAFF_EMAILS) open one tenant read-only for an hour, with
   * a reason that lands in the tenant's audit trail. Returns a bearer token.
   */
  @Post('access')
  @SignedIn()
  access(
    @UserSession() current: CurrentSession,
    @ZBody(staffAccessBody) body: StaffAccessBody,
    @Client() client: ClientInfo,
  ) {
    return this.admin.staffAccess(current, body, client);
  }
}
