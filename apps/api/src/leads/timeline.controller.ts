import { Controller, Delete, Get, HttpCode, Patch, Post, Req, Res } from '@nestjs/common';
import { ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Page } from '@ibhq/core';
import {
  activitiesQuery,
  addNoteBody,
  addTaskBody,
  leadIdParam,
  patchActivityBody,
  TimelineService,
  type ActivitiesQuery,
  type ActivityView,
  type AddNoteBody,
  type AddTaskBody,
  type PatchActivityBody,
} from '@ibhq/leads';
import { Requires } from '../http/access.decorators.js';
import { ZBody, ZParam, ZQuery } from '../http/zod-params.js';

/**
 * A lead's activity timeline: newest first with a keyset cursor; notes and tasks by
 * members. Everything else on it is written by the system and never changes.
 */
@ApiTags('leads')
@Controller('v1/leads')
export class TimelineController {
  constructor(private readonly timeline: TimelineService) {}

  /** A page of activities (`kind` repeatable); a merged lead's id answers 308. */
  @Get(':id/activities')
  @Requires('leads:read')
  @ApiResponse({ status: 308, description: 'Merged: Location is the survivor’s timeline' })
  async list(
    @ZParam('id', leadIdParam) id: string,
    @ZQuery(activitiesQuery) query: ActivitiesQuery,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    const read = await this.timeline.list(id, query);
    if ('mergedInto' in read) {
      const search = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
      return reply
        .status(308)
        .header('location', `/v1/leads/${read.mergedInto}/activities${search}`)
        .send({ code: 'MERGED', survivorId: read.mergedInto });
    }
    return reply.status(200).send(read.page satisfies Page<ActivityView>);
  }

  @Post(':id/notes')
  @Requires('leads:write')
  addNote(
    @ZParam('id', leadIdParam) id: string,
    @ZBody(addNoteBody) body: AddNoteBody,
  ): Promise<ActivityView> {
    return this.timeline.addNote(id, body);
  }

  @Post(':id/tasks')
  @Requires('leads:write')
  addTask(
    @ZParam('id', leadIdParam) id: string,
    @ZBody(addTaskBody) body: AddTaskBody,
  ): Promise<ActivityView> {
    return this.timeline.addTask(id, body);
  }

  /** A note's author edits its body; any member updates a task (body, dueAt, done). */
  @Patch(':id/activities/:activityId')
  @Requires('leads:write')
  update(
    @ZParam('id', leadIdParam) id: string,
    @ZParam('activityId', leadIdParam) activityId: string,
    @ZBody(patchActivityBody) body: PatchActivityBody,
  ): Promise<ActivityView> {
    return this.timeline.update(id, activityId, body);
  }

  /** A note's (or task's) author deletes it: it stays with deletedAt and no body. */
  @Delete(':id/activities/:activityId')
  @Requires('leads:write')
  @HttpCode(204)
  async remove(
    @ZParam('id', leadIdParam) id: string,
    @ZParam('activityId', leadIdParam) activityId: string,
  ): Promise<void> {
    await this.timeline.remove(id, activityId);
  }
}
