import { Controller, Delete, Get, HttpCode, Put } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  AssignmentService,
  type AssignmentRuleView,
  type LeadSource,
  leadSourceParam,
  putAssignmentRuleBody,
  type PutAssignmentRuleBody,
} from '@ibhq/leads';
import { Requires } from '../http/access.decorators.js';
import { ZBody, ZParam } from '../http/zod-params.js';

/** Round-robin assignment of new leads, one rule per source. */
@ApiTags('leads')
@Controller('v1/assignment-rules')
export class AssignmentController {
  constructor(private readonly assignment: AssignmentService) {}

  @Get()
  @Requires('leads:read')
  async list(): Promise<{ items: AssignmentRuleView[] }> {
    return { items: await this.assignment.rules() };
  }

  /** The members (user ids) who take turns on new leads of the source, from the first. */
  @Put(':source')
  @Requires('pipeline:manage')
  put(
    @ZParam('source', leadSourceParam) source: LeadSource,
    @ZBody(putAssignmentRuleBody) body: PutAssignmentRuleBody,
  ): Promise<AssignmentRuleView> {
    return this.assignment.setRule(source, body.memberIds);
  }

  /** New leads of the source stay unassigned. */
  @Delete(':source')
  @Requires('pipeline:manage')
  @HttpCode(204)
  async delete(@ZParam('source', leadSourceParam) source: LeadSource): Promise<void> {
    await this.assignment.deleteRule(source);
  }
}
