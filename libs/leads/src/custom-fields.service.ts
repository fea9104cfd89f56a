import { Injectable } from '@nestjs/common';
import { AuditService } from '@ibhq/audit';
import { currentTenant, DomainError, ErrorCode, NotFoundError, ValidationError } from '@ibhq/core';
import { Prisma, TenantDb } from '@ibhq/db';
import {
  CUSTOM_FIELDS_MAX,
  optionProblems,
  type CreateCustomFieldBody,
  type CustomFieldView,
  type UpdateCustomFieldBody,
} from './crm-config.dto.js';
import type { CustomFieldDefinition } from './custom-fields.js';

const VIEW_COLUMNS = Prisma.raw(`"id", "key", "label", "type"::text AS "type", "required",
  COALESCE("options", '{}')::text[] AS "options", "position", "createdAt", "updatedAt"`);

/** Custom field definitions of the tenant. OWNER: tags/custom fields/assignment work. */
@Injectable()
export class CustomFieldsService {
  constructor(
    private readonly db: TenantDb,
    private readonly audit: AuditService,
  ) {}

  /** Every definition of the tenant, by position. Joins an open transaction. */
  async definitions(): Promise<CustomFieldDefinition[]> {
    const { tenantId } = currentTenant('CustomFieldsService.definitions');
    return this.db.query<CustomFieldDefinition>(Prisma.sql`
      SELECT "id", "key", "label", "type"::text AS "type", "required",
             COALESCE("options", '{}')::text[] AS "options", "position"
        FROM "CustomField"
       WHERE "tenantId" = ${tenantId}::uuid
       ORDER BY "position", "key"`);
  }

  /** Every definition, by position (at most CUSTOM_FIELDS_MAX: no pages). */
  async list(): Promise<CustomFieldView[]> {
    const { tenantId } = currentTenant('CustomFieldsService.list');
    return this.db.query<CustomFieldView>(Prisma.sql`
      SELECT ${VIEW_COLUMNS} FROM "CustomField"
       WHERE "tenantId" = ${tenantId}::uuid
       ORDER BY "position", "key"`);
  }

  async get(id: string): Promise<CustomFieldView> {
    const { tenantId } = currentTenant('CustomFieldsService.get');
    const [field] = await this.db.query<CustomFieldView>(Prisma.sql`
      SELECT ${VIEW_COLUMNS} FROM "CustomField"
       WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid`);
    if (!field) throw new NotFoundError('custom field');
    return field;
  }

  /**
   * A new definition (last by default). 409 when the key is taken or the tenant
   * already has CUSTOM_FIELDS_MAX definitions. Audited.
   */
  async create(body: CreateCustomFieldBody): Promise<CustomFieldView> {
    const { tenantId } = currentTenant('CustomFieldsService.create');
    return this.db.transaction(async () => {
      // One definition change at a time per tenant: the limit holds under races.
      await this.lock();
      const [{ count, next } = { count: 0, next: 0 }] = await this.db.query<{
        count: number;
        next: number;
      }>(Prisma.sql`
        SELECT count(*)::int AS "count", COALESCE(max("position") + 1, 0)::int AS "next"
          FROM "CustomField" WHERE "tenantId" = ${tenantId}::uuid`);
      if (count >= CUSTOM_FIELDS_MAX) {
        throw new DomainError(
          ErrorCode.Conflict,
          `a tenant has at most ${String(CUSTOM_FIELDS_MAX)} custom fields: delete one first`,
          { limit: CUSTOM_FIELDS_MAX },
        );
      }
      const [created] = await this.db.query<{ id: string }>(Prisma.sql`
        INSERT INTO "CustomField"
          ("tenantId", "id", "key", "label", "type", "required", "options", "position", "updatedAt")
        VALUES (${tenantId}::uuid, ibhq_uuidv7(), ${body.key}, ${body.label},
                ${body.type}::"CustomFieldType", ${body.required}, ${body.options ?? []}::varchar[],
                ${body.position ?? next}::int, now())
        ON CONFLICT ("tenantId", "key") DO NOTHING
        RETURNING "id"`);
      if (!created) {
        throw new DomainError(ErrorCode.Conflict, `the key "${body.key}" is taken`, {
          fields: [{ field: 'body.key', message: 'is taken by another custom field' }],
        });
      }
      const field = await this.get(created.id);
      await this.audit.record({
        action: 'custom_field.created',
        targetType: 'custom_field',
        targetId: field.id,
        metadata: { key: field.key, type: field.type, required: field.required },
      });
      return field;
    });
  }

  /**
   * Changes label, required, options or position (key and type are immutable).
   * Removing an option that leads still hold is a 409 with their count. Audited.
   */
  async update(id: string, body: UpdateCustomFieldBody): Promise<CustomFieldView> {
    const { tenantId } = currentTenant('CustomFieldsService.update');
    return this.db.transaction(async () => {
      await this.lock();
      const before = await this.get(id);
      if (body.options !== undefined) {
        const problems = optionProblems(before.type, body.options);
        if (problems.length > 0) throw new ValidationError(problems);
        const kept = new Set(body.options);
        const removed = before.options.filter((o) => !kept.has(o));
        if (removed.length > 0) {
          const [{ count } = { count: 0 }] = await this.db.query<{ count: number }>(Prisma.sql`
            SELECT count(*)::int AS "count" FROM "Lead"
             WHERE "tenantId" = ${tenantId}::uuid
               AND jsonb_exists_any("customFields" -> ${before.key}::text, ${removed}::text[])`);
          if (count > 0) {
            throw new DomainError(
              ErrorCode.Conflict,
              `${String(count)} lead(s) hold an option this change removes: change their values first`,
              {
                count,
                options: removed,
                fields: [{ field: 'body.options', message: 'removes options still in use' }],
              },
            );
          }
        }
      }
      await this.db.query(Prisma.sql`
        UPDATE "CustomField"
           SET "label" = COALESCE(${body.label ?? null}::varchar, "label"),
               "required" = COALESCE(${body.required ?? null}::boolean, "required"),
               "options" = COALESCE(${body.options ?? null}::varchar[], "options"),
               "position" = COALESCE(${body.position ?? null}::int, "position"),
               "updatedAt" = now()
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid`);
      const field = await this.get(id);
      await this.audit.record({
        action: 'custom_field.updated',
        targetType: 'custom_field',
        targetId: id,
        metadata: { key: field.key, fields: Object.keys(body).sort() },
      });
      return field;
    });
  }

  /**
   * Deletes a definition and its values from every lead (one set-based UPDATE).
   * Audited with the number of leads that held a value.
   */
  async delete(id: string): Promise<void> {
    const { tenantId } = currentTenant('CustomFieldsService.delete');
    await this.db.transaction(
      async () => {
        await this.lock();
        const [field] = await this.db.query<{ key: string }>(Prisma.sql`
          DELETE FROM "CustomField" WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid
          RETURNING "key"`);
        if (!field) throw new NotFoundError('custom field');
        const [{ count } = { count: 0 }] = await this.db.query<{ count: number }>(Prisma.sql`
          WITH changed AS (
            UPDATE "Lead"
               SET "customFields" = "customFields" - ${field.key}::text,
                   "version" = "version" + 1, "updatedAt" = now()
             WHERE "tenantId" = ${tenantId}::uuid AND jsonb_exists("customFields", ${field.key}::text)
            RETURNING 1)
          SELECT count(*)::int AS "count" FROM changed`);
        await this.audit.record({
          action: 'custom_field.deleted',
          targetType: 'custom_field',
          targetId: id,
          metadata: { key: field.key, count },
        });
      },
      // A million leads may hold a value.
      { timeoutMs: 10 * 60_000 },
    );
  }

  /** Serialises definition changes of the tenant (transaction-scoped). */
  private async lock(): Promise<void> {
    const { tenantId } = currentTenant('CustomFieldsService.lock');
    await this.db.query(Prisma.sql`
      SELECT pg_advisory_xact_lock(hashtextextended(${`custom_fields:${tenantId}`}, 0))::text`);
  }
}
