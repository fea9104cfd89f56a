import { Controller, Delete, Get, HttpCode, Patch, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  createCustomFieldBody,
  type CreateCustomFieldBody,
  customFieldIdParam,
  CustomFieldsService,
  type CustomFieldView,
  updateCustomFieldBody,
  type UpdateCustomFieldBody,
} from '@ibhq/leads';
import { Requires } from '../http/access.decorators.js';
import { ZBody, ZParam } from '../http/zod-params.js';

/** Custom field definitions; values live on leads (body.customFields). */
@ApiTags('leads')
@Controller('v1/custom-fields')
export class CustomFieldsController {
  constructor(private readonly fields: CustomFieldsService) {}

  /** Every definition, by position. */
  @Get()
  @Requires('leads:read')
  async list(): Promise<{ items: CustomFieldView[] }> {
    return { items: await this.fields.list() };
  }

  @Get(':id')
  @Requires('leads:read')
  get(@ZParam('id', customFieldIdParam) id: string): Promise<CustomFieldView> {
    return this.fields.get(id);
  }

  /** 409 when the key is taken or the tenant has 100 definitions. */
  @Post()
  @Requires('pipeline:manage')
  create(@ZBody(createCustomFieldBody) body: CreateCustomFieldBody): Promise<CustomFieldView> {
    return this.fields.create(body);
  }

  /** label, required, options, position (key and type are immutable). */
  @Patch(':id')
  @Requires('pipeline:manage')
  update(
    @ZParam('id', customFieldIdParam) id: string,
    @ZBody(updateCustomFieldBody) body: UpdateCustomFieldBody,
  ): Promise<CustomFieldView> {
    return this.fields.update(id, body);
  }

  /** Removes the definition and its values from every lead. */
  @Delete(':id')
  @Requires('pipeline:manage')
  @HttpCode(204)
  async delete(@ZParam('id', customFieldIdParam) id: string): Promise<void> {
    await this.fields.delete(id);
  }
}
