import { Module } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditModule } from '@ibhq/audit';
import { CoreModule, type TenantContext, type TenantId } from '@ibhq/core';
import { AuditController } from '../../apps/api/src/audit/audit.controller.js';
import { ACCESS } from '../../apps/api/src/http/access.decorators.js';
import { ErrorFilter } from '../../apps/api/src/http/error.filter.js';
import { TenantContextInterceptor } from '../../apps/api/src/http/tenant-context.interceptor.js';
import { asTenant, createTenantRow, testConfig } from '../support/db.js';
import { auditKit, storedEvents, type AuditKit } from './audit-kit.js';

/**
 * The controller on Fastify with the API's real error filter and tenant-context
 * interceptor. Authentication is stood in for by a hook that sets the tenant context
 * the auth guard would (sign-in and the permission check are tested through the whole
 * API elsewhere): this checks validation, streaming and headers.
 */
@Module({
  imports: [CoreModule.forRoot(testConfig()), AuditModule],
  controllers: [AuditController],
  providers: [
    { provide: APP_FILTER, useClass: ErrorFilter },
    { provide: APP_INTERCEPTOR, useClass: TenantContextInterceptor },
  ],
})
class AuditHttpModule {}

describe('AuditController over HTTP (authentication stubbed)', () => {
  let app: NestFastifyApplication;
  let url: string;
  let kit: AuditKit;
  let tenant: TenantId;

  beforeAll(async () => {
    app = await NestFactory.create<NestFastifyApplication>(AuditHttpModule, new FastifyAdapter(), {
      logger: false,
    });
    app
      .getHttpAdapter()
      .getInstance()
      .addHook('onRequest', (request, _reply, done) => {
        const tenantId = request.headers['x-test-tenant'];
        if (typeof tenantId === 'string') {
          (request as { tenantContext?: TenantContext }).tenantContext = {
            tenantId: tenantId as TenantId,
            actor: { type: 'user', id: 'http-user' },
            client: { ip: request.ip, userAgent: 'test-agent' },
          };
        }
        done();
      });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = await app.getUrl();
    kit = await auditKit();
    tenant = await createTenantRow('Http');
    for (const action of ['member.invited', 'member.joined', 'member.removed']) {
      await asTenant(tenant, () => kit.audit.record({ action }));
    }
  });

  afterAll(async () => {
    await app.close();
    await kit.close();
  });

  const get = (path: string) => fetch(url + path, { headers: { 'x-test-tenant': tenant } });

  it('declares the audit:read permission for every route', () => {
    expect(Reflect.getMetadata(ACCESS, AuditController)).toEqual({
      kind: 'permission',
      permission: 'audit:read',
    });
  });

  it('lists with keyset pagination', async () => {
    const first = await get('/v1/audit-events?limit=2');
    expect(first.status).toBe(200);
    const page = (await first.json()) as { items: { seq: number }[]; nextCursor: string };
    expect(page.items.map((e) => e.seq)).toEqual([3, 2]);
    const second = (await (
      await get(`/v1/audit-events?limit=2&cursor=${page.nextCursor}`)
    ).json()) as { items: { seq: number }[]; nextCursor: string | null };
    expect(second).toMatchObject({ items: [{ seq: 1 }], nextCursor: null });
  });

  it('answers bad query input with 400 naming the field', async () => {
    const cases: [string, string][] = [
      ['/v1/audit-events?limit=0', 'query.limit'],
      ['/v1/audit-events?cursor=%21%21', 'query.cursor'],
      ['/v1/audit-events?action=DROP%20TABLE', 'query.action'],
      ['/v1/audit-events?from=yesterday', 'query.from'],
      ['/v1/audit-events?unknown=1', 'query'],
      ['/v1/audit-events/export', 'query.format'],
      ['/v1/audit-events/export?format=xml', 'query.format'],
    ];
    for (const [path, field] of cases) {
      const response = await get(path);
      expect(response.status, path).toBe(400);
      const body = (await response.json()) as { error: { fields: { field: string }[] } };
      expect(
        body.error.fields.map((f) => f.field),
        path,
      ).toContain(field);
    }
  });

  it('streams a CSV download named after the tenant and the day', async () => {
    const response = await get('/v1/audit-events/export?format=csv&action=member.*');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const day = new Date().toISOString().slice(0, 10);
    expect(response.headers.get('content-disposition')).toBe(
      `attachment; filename="audit-${tenant}-${day}.csv"`,
    );
    const lines = (await response.text()).trim().split('\n');
    expect(lines[0]).toMatch(/^seq,occurredAt,actorType,/);
    expect(lines.slice(1).map((l) => l.split(',')[4])).toEqual([
      'member.invited',
      'member.joined',
      'member.removed',
    ]);
    // Recorded with the actor and client of the request.
    expect((await storedEvents(tenant)).at(-1)).toMatchObject({
      action: 'audit.exported',
      actorType: 'user',
      actorId: 'http-user',
      userAgent: 'test-agent',
      metadata: { format: 'csv', filters: { action: 'member.*' } },
    });
  });

  it('streams a JSON download', async () => {
    const response = await get('/v1/audit-events/export?format=json&actorType=system');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('content-disposition')).toMatch(/filename="audit-.*\.json"$/);
    const events = (await response.json()) as { seq: number }[];
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('verifies the chain', async () => {
    const response = await get('/v1/audit-events/verify');
    expect(response.status).toBe(200);
    const result = (await response.json()) as { ok: boolean; events: number };
    expect(result.ok).toBe(true);
    expect(result.events).toBe((await storedEvents(tenant)).length);
  });
});
