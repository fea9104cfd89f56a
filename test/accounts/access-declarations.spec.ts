import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import { Controller, Get, Post } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger as Pino } from 'pino';
import { PERMISSIONS } from '@ibhq/auth';
import { NestPinoLogger, PINO_LOGGER } from '@ibhq/core';
import { AppModule } from '../../apps/api/src/app.module.js';
import { Public } from '../../apps/api/src/http/access.decorators.js';
import { LogCapture, startApi, type RunningApi } from '../support/apps.js';
import { ACCOUNTS_ENV, bearer, freshIp, GOOD_PASSWORD } from '../support/accounts.js';
import { createTenantRow, testConfig } from '../support/db.js';
import { accessOf, controllersOf, type Route, routeName, routesOf } from './access-routes.js';

/** Fewer routes than this means the enumeration missed controllers, not that the API shrank. */
const MIN_ROUTES = 25;

describe('every route of the API declares who may call it', () => {
  let api: RunningApi;
  let routes: Route[];

  beforeAll(async () => {
    api = await startApi(ACCOUNTS_ENV);
    routes = routesOf(controllersOf(api.app));
  });
  afterAll(async () => {
    await api.close();
  });

  it('finds every route Nest registered, each one served by Fastify', () => {
    expect(routes.length).toBeGreaterThanOrEqual(MIN_ROUTES);
    const names = routes.map(routeName);
    expect(new Set(names).size).toBe(names.length);
    // The derived method and path are the ones the HTTP server routes: the
    // enumeration matches what a request reaches.
    const fastify = api.app.getHttpAdapter().getInstance();
    for (const route of routes) {
      expect(fastify.hasRoute({ method: route.method, url: route.path }), routeName(route)).toBe(
        true,
      );
    }
  });

  it('each handler has exactly one access declaration, on the method or on its controller', () => {
    const undeclared = routes.filter((r) => !r.onMethod && !r.onClass).map(routeName);
    const twice = routes.filter((r) => r.onMethod && r.onClass).map(routeName);
    expect(undeclared).toEqual([]);
    expect(twice).toEqual([]);
  });

  it('each declaration is well-formed: public, signed-in, or one known permission', () => {
    for (const route of routes) {
      const access = accessOf(route);
      const ok =
        access?.kind === 'public' ||
        access?.kind === 'signed-in' ||
        (access?.kind === 'permission' && PERMISSIONS.includes(access.permission));
      expect(ok, `${routeName(route)}: ${JSON.stringify(access)}`).toBe(true);
    }
  });

  it('only the routes meant to be open are public', () => {
    // Written by hand on purpose: a route made public by mistake must fail here.
    const open = routes.filter((r) => accessOf(r)?.kind === 'public').map(routeName);
    expect(open.sort()).toEqual(
      [
        'GET /health/live',
        'GET /health/ready',
        'GET /metrics',
        'GET /v1/invitations/preview',
        'POST /v1/auth/login',
        'POST /v1/auth/signup',
        'POST /v1/auth/telegram',
        'POST /v1/invitations/accept',
      ].sort(),
    );
  });
});

/** A controller someone forgot to declare: the guard must refuse it, whoever calls. */
@Controller('v1/forgotten')
class ForgottenController {
  static calls = 0;

  @Get('open')
  @Public()
  open(): { reached: true } {
    return { reached: true };
  }

  @Get()
  undeclared(): { reached: true } {
    ForgottenController.calls++;
    return { reached: true };
  }

  @Post()
  undeclaredWrite(): { reached: true } {
    ForgottenController.calls++;
    return { reached: true };
  }
}

describe('a route without an access declaration fails closed', () => {
  let app: NestFastifyApplication;
  let tenantId: string;
  let ownerToken: string;
  const logs = new LogCapture();

  beforeAll(async () => {
    // The product's own AppModule (its global AuthGuard included) with one more
    // controller that declares nothing.
    const moduleRef = await Test.createTestingModule({
      imports: [
        AppModule.forRoot(
          testConfig({ ...ACCOUNTS_ENV, DEV_TENANT_HEADER: 'true', LOG_LEVEL: 'info' }),
          logs,
        ),
      ],
      controllers: [ForgottenController],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(
      new FastifyAdapter({ trustProxy: true }),
      { bufferLogs: true },
    );
    // As the API's bootstrap does: Nest's messages go to the JSON log (captured here).
    app.useLogger(new NestPinoLogger(app.get<Pino>(PINO_LOGGER)));
    await app.register(cookie);
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    tenantId = await createTenantRow('Forgotten declarations');
    const signedUp = await app.inject({
      method: 'POST',
      url: '/v1/auth/signup',
      headers: { 'x-forwarded-for': freshIp() },
      payload: {
        tenantName: 'Forgotten declarations owner',
        displayName: 'Olga Owner',
        email: `owner-${randomUUID().slice(0, 8)}@example.com`,
        password: GOOD_PASSWORD,
      },
    });
    expect(signedUp.statusCode).toBe(201);
    ownerToken = signedUp.json<{ token: string }>().token;
  });
  afterAll(async () => {
    await app.close();
  });

  it('the enumeration flags the forgotten declarations', () => {
    const undeclared = routesOf([ForgottenController])
      .filter((r) => accessOf(r) === undefined)
      .map(routeName);
    expect(undeclared).toEqual(['GET /v1/forgotten', 'POST /v1/forgotten']);
  });

  it('the test module serves a declared route (so a refusal below is the guard)', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/forgotten/open' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ reached: true });
  });

  it.each<[string, () => Record<string, string>]>([
    ['no credentials', () => ({})],
    ['the development tenant header', () => ({ 'x-tenant-id': tenantId })],
    ['an owner session', () => bearer(ownerToken)],
  ])(
    'refuses the undeclared routes with 403 to %s, without running them',
    async (_who, headers) => {
      for (const method of ['GET', 'POST'] as const) {
        const res = await app.inject({
          method,
          url: '/v1/forgotten',
          headers: headers(),
          ...(method === 'POST' ? { payload: {} } : {}),
        });
        expect(res.statusCode, method).toBe(403);
        expect(res.json<{ error: { code: string } }>().error.code).toBe('FORBIDDEN');
      }
      expect(ForgottenController.calls).toBe(0);
      // The programming error is in the log, naming the handler.
      expect(logs.text).toContain('ForgottenController.undeclared declares no access');
      expect(logs.text).toContain('ForgottenController.undeclaredWrite declares no access');
    },
  );
});
