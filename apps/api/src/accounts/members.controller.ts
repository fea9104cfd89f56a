import { Controller, Delete, Get, HttpCode, Patch, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  acceptInvitationBody,
  type AcceptInvitationBody,
  changeRoleBody,
  type ChangeRoleBody,
  createInvitationBody,
  type CreateInvitationBody,
  type CurrentSession,
  idParam,
  invitationTokenQuery,
  InvitationsService,
  listQuery,
  type ListQuery,
  MembersService,
} from '@ibhq/accounts';
import type { ClientInfo } from '@ibhq/core';
import { Public, Requires } from '../http/access.decorators.js';
import type { RequestAuth } from '../http/auth.guard.js';
import { actingRoleOf, Caller, Client, UserSession } from '../http/request.decorators.js';
import { ZBody, ZParam, ZQuery } from '../http/zod-params.js';

@ApiTags('members')
@Controller('v1/members')
export class MembersController {
  constructor(private readonly members: MembersService) {}

  @Get()
  @Requires('members:read')
  list(@ZQuery(listQuery) query: ListQuery) {
    return this.members.list(query);
  }

  @Patch(':id')
  @Requires('members:manage')
  changeRole(
    @ZParam('id', idParam) id: string,
    @ZBody(changeRoleBody) body: ChangeRoleBody,
    @Caller() auth: RequestAuth,
  ) {
    return this.members.changeRole(id, body.role, actingRoleOf(auth));
  }

  /** Removes a member; their sessions in this tenant and the keys they made end at once. */
  @Delete(':id')
  @Requires('members:manage')
  @HttpCode(204)
  async remove(@ZParam('id', idParam) id: string, @Caller() auth: RequestAuth): Promise<void> {
    await this.members.remove(id, actingRoleOf(auth));
  }
}

@ApiTags('members')
@Controller('v1/invitations')
export class InvitationsController {
  constructor(private readonly invitations: InvitationsService) {}

  @Post()
  @Requires('invitations:manage')
  create(
    @ZBody(createInvitationBody) body: CreateInvitationBody,
    @UserSession() current: CurrentSession,
  ) {
    return this.invitations.create(body, current.session.userId, current.session.role);
  }

  @Get()
  @Requires('invitations:manage')
  async list() {
    return { items: await this.invitations.list() };
  }

  @Delete(':id')
  @Requires('invitations:manage')
  revoke(@ZParam('id', idParam) id: string) {
    return this.invitations.revoke(id);
  }

  /** What a link invites to (public: the link itself is the credential). */
  @Get('preview')
  @Public()
  preview(@ZQuery(invitationTokenQuery) query: { token: string }) {
    return this.invitations.preview(query.token);
  }

  @Post('accept')
  @Public()
  @HttpCode(200)
  accept(@ZBody(acceptInvitationBody) body: AcceptInvitationBody, @Client() client: ClientInfo) {
    return this.invitations.accept(body, client);
  }
}
