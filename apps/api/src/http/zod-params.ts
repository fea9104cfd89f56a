import { Body, type ArgumentMetadata, Param, type PipeTransform, Query } from '@nestjs/common';
import { ApiBody, ApiParam, ApiQuery } from '@nestjs/swagger';
import { z } from 'zod';
import { ValidationError } from '@ibhq/core';

/**
 * Request validation with zod schemas, and their OpenAPI description from the same
 * schema (zod's own JSON Schema export). nestjs-zod does this too but does not
 * support Nest 12; this is the small part of it the product needs.
 */
class ZodPipe implements PipeTransform {
  constructor(
    private readonly schema: z.ZodType,
    private readonly where: string,
  ) {}

  transform(value: unknown, _meta: ArgumentMetadata): unknown {
    const result = this.schema.safeParse(value);
    if (result.success) return result.data;
    throw new ValidationError(
      result.error.issues.map((issue) => ({
        field: [this.where, ...issue.path.map(String)].join('.'),
        message: issue.message,
      })),
    );
  }
}

function openApi(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' });
}

/** Applies a method decorator from inside a parameter decorator. */
function onMethod(target: object, key: string | symbol | undefined, decorator: MethodDecorator) {
  if (key === undefined) return;
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  if (descriptor) decorator(target, key, descriptor);
}

/** `@ZBody(schema) body`: the validated body; a 400 names `body.<field>` otherwise. */
export function ZBody(schema: z.ZodType): ParameterDecorator {
  return (target, key, index) => {
    Body(new ZodPipe(schema, 'body'))(target, key, index);
    onMethod(target, key, ApiBody({ schema: openApi(schema) }));
  };
}

/** `@ZQuery(schema) query`: the validated query string (an object schema). */
export function ZQuery(schema: z.ZodObject): ParameterDecorator {
  return (target, key, index) => {
    Query(new ZodPipe(schema, 'query'))(target, key, index);
    const shape: Record<string, z.ZodType> = schema.shape;
    for (const [name, field] of Object.entries(shape)) {
      onMethod(
        target,
        key,
        ApiQuery({ name, required: !field.safeParse(undefined).success, schema: openApi(field) }),
      );
    }
  };
}

/** `@ZParam('id', schema) id`: a validated path parameter. */
export function ZParam(name: string, schema: z.ZodType): ParameterDecorator {
  return (target, key, index) => {
    Param(name, new ZodPipe(schema, `params.${name}`))(target, key, index);
    onMethod(target, key, ApiParam({ name, schema: openApi(schema) }));
  };
}
