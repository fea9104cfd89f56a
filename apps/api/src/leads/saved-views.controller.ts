import { Controller, Delete, Get, HttpCode, Patch, Post } from '@nestjs/common';
import { ApiHeader, ApiTags } from '@nestjs/swagger';
import type { Page } from '@ibhq/core';
import {
  createSavedViewBody,
  savedViewIdParam,
  savedViewListQuery,
  SavedViewsService,
  updateSavedViewBody,
  type CreateSavedViewBody,
  type SavedViewListQuery,
  type SavedViewView,
  type UpdateSavedViewBody,
  type ViewReader,
} from '@ibhq/leads';
import { Requires } from '../http/access.decorators.js';
import { DEV_TENANT_HEADER, type RequestAuth } from '../http/auth.guard.js';
import { actingRoleOf, Caller, userIdOf } from '../http/request.decorators.js';
import { ZBody, ZParam, ZQuery } from '../http/zod-params.js';

/** Who reads or saves views: the signed-in member and their role (API keys: neither). */
export function readerOf(auth: RequestAuth): ViewReader {
  return { userId: userIdOf(auth), role: actingRoleOf(auth) };
}

/**
 * Saved views of the lead list: everyone with leads:read sees their own and the
 * shared ones and saves their own (up to 100); the author changes a view, and owners
 * and admins also shared ones. Another member's private view answers 404.
 */
@ApiTags('leads')
@ApiHeader({ name: DEV_TENANT_HEADER, required: false, description: 'Development mode only' })
@Controller('v1/saved-views')
export class SavedViewsController {
  constructor(private readonly views: SavedViewsService) {}

  @Get()
  @Requires('leads:read')
  list(
    @ZQuery(savedViewListQuery) query: SavedViewListQuery,
    @Caller() auth: RequestAuth,
  ): Promise<Page<SavedViewView>> {
    return this.views.list(readerOf(auth), query);
  }

  @Post()
  @Requires('leads:read')
  create(
    @ZBody(createSavedViewBody) body: CreateSavedViewBody,
    @Caller() auth: RequestAuth,
  ): Promise<SavedViewView> {
    return this.views.create(readerOf(auth), body);
  }

  @Get(':id')
  @Requires('leads:read')
  get(
    @ZParam('id', savedViewIdParam) id: string,
    @Caller() auth: RequestAuth,
  ): Promise<SavedViewView> {
    return this.views.get(readerOf(auth), id);
  }

  @Patch(':id')
  @Requires('leads:read')
  update(
    @ZParam('id', savedViewIdParam) id: string,
    @ZBody(updateSavedViewBody) body: UpdateSavedViewBody,
    @Caller() auth: RequestAuth,
  ): Promise<SavedViewView> {
    return this.views.update(readerOf(auth), id, body);
  }

  @Delete(':id')
  @Requires('leads:read')
  @HttpCode(204)
  async remove(
    @ZParam('id', savedViewIdParam) id: string,
    @Caller() auth: RequestAuth,
  ): Promise<void> {
    await this.views.remove(readerOf(auth), id);
  }
}
