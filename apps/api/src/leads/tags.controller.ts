import { Controller, Delete, Get, HttpCode, Patch, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Page } from '@ibhq/core';
import {
  createTagBody,
  type CreateTagBody,
  listTagsQuery,
  type ListTagsQuery,
  tagIdParam,
  TagsService,
  type TagView,
  updateTagBody,
  type UpdateTagBody,
} from '@ibhq/leads';
import { Requires } from '../http/access.decorators.js';
import { ZBody, ZParam, ZQuery } from '../http/zod-params.js';

/** The tenant's tags: list with lead counts, create, rename or recolour, delete. */
@ApiTags('leads')
@Controller('v1/tags')
export class TagsController {
  constructor(private readonly tags: TagsService) {}

  /** By name, keyset pages; leadCount counts the leads the caller can see. */
  @Get()
  @Requires('leads:read')
  list(@ZQuery(listTagsQuery) query: ListTagsQuery): Promise<Page<TagView>> {
    return this.tags.list(query);
  }

  @Get(':id')
  @Requires('leads:read')
  get(@ZParam('id', tagIdParam) id: string): Promise<TagView> {
    return this.tags.get(id);
  }

  /** 409 when a tag of that name (without regard to case) exists. */
  @Post()
  @Requires('pipeline:manage')
  create(@ZBody(createTagBody) body: CreateTagBody): Promise<TagView> {
    return this.tags.create(body);
  }

  @Patch(':id')
  @Requires('pipeline:manage')
  update(
    @ZParam('id', tagIdParam) id: string,
    @ZBody(updateTagBody) body: UpdateTagBody,
  ): Promise<TagView> {
    return this.tags.update(id, body);
  }

  /** Removes the tag from every lead. */
  @Delete(':id')
  @Requires('pipeline:manage')
  @HttpCode(204)
  async delete(@ZParam('id', tagIdParam) id: string): Promise<void> {
    await this.tags.delete(id);
  }
}
