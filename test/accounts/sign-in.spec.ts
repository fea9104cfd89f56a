import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '../support/apps.js';
import {
  ACCOUNTS_ENV,
  addMember,
  bearer,
  freshIp,
  GOOD_PASSWORD,
  login,
  signup,
} from '../support/accounts.js';
import { sql } from '../support/db.js';

const sessionKey = (token: string) =>
  `${process.env.REDIS_KEY_PREFIX!}:session:${createHash('sha256').update(token).digest('hex')}`;

interface ErrorBody {
  error: { code: string; message: string; fields?: { field: string }[] };
}

describe('sign-up, sign-in and sessions', () => {
  let api: RunningApi;
  let redis: Redis;

  beforeAll(async () => {
    api = await startApi(ACCOUNTS_ENV);
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    redis.disconnect();
    await api.close();
  });

  describe('sign-up', () => {
    it('creates the tenant, its owner and the owner membership in one go, signed in', async () => {
      const owner = await signup(api, { email: '  Mixed.Case@Example.COM ' });
      const me = await api.request('GET', '/v1/auth/me', { headers: bearer(owner.token) });
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({
        user: { email: 'mixed.case@example.com', twoFactorEnabled: false },
        session: { tenantId: owner.tenantId, role: 'owner', current: true },
        memberships: [{ tenantId: owner.tenantId, role: 'owner', tenantName: 'Acme Introducers' }],
      });
      const tenant = await api.request('GET', '/v1/tenant', { headers: bearer(owner.token) });
      expect(tenant.body).toMatchObject({ id: owner.tenantId, region: 'EU', status: 'active' });
      const { rows } = await sql<{ passwordHash: string }>(
        'admin',
        'SELECT "passwordHash" FROM "User" WHERE id = $1',
        [owner.userId],
      );
      expect(rows[0]!.passwordHash).toMatch(/^\$2[aby]\$04\$/); // bcrypt, at the configured cost
      expect(rows[0]!.passwordHash).not.toContain(owner.password);
    });

    it('puts the tenant in the US on request', async () => {
      const res = await api.request('POST', '/v1/auth/signup', {
        headers: { 'x-forwarded-for': freshIp() },
        body: {
          tenantName: 'Yankee IB',
          displayName: 'Sam',
          email: `us-${Date.now()}@example.com`,
          password: GOOD_PASSWORD,
          region: 'US',
        },
      });
      expect(res.status).toBe(201);
      const token = (res.body as { token: string }).token;
      const tenant = await api.request('GET', '/v1/tenant', { headers: bearer(token) });
      expect(tenant.body).toMatchObject({ region: 'US', name: 'Yankee IB' });
    });

    it.each([
      ['a short password', { password: 'Ab1!xyz' }, 'body.password'],
      ['a common password', { password: 'password1234' }, 'body.password'],
      ['the e-mail as password', { password: 'weak.owner@example.com' }, 'body.password'],
      ['a bad e-mail', { email: 'not-an-email' }, 'body.email'],
      ['an unknown field', { isAdmin: true }, 'body'],
      ['a bad region', { region: 'MARS' }, 'body.region'],
    ])('refuses %s with a 400 naming the field, creating nothing', async (_, patch, field) => {
      const email = 'weak.owner@example.com';
      const res = await api.request('POST', '/v1/auth/signup', {
        headers: { 'x-forwarded-for': freshIp() },
        body: { tenantName: 'Weak', displayName: 'W', email, password: GOOD_PASSWORD, ...patch },
      });
      expect(res.status).toBe(400);
      const error = (res.body as ErrorBody).error;
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(error.fields!.map((f) => f.field).join(' ')).toContain(field);
      const { rows } = await sql('admin', 'SELECT 1 FROM "User" WHERE email = $1', [email]);
      expect(rows).toHaveLength(0);
    });

    it('refuses a second account for the same e-mail (409), whatever its case', async () => {
      const owner = await signup(api);
      const res = await api.request('POST', '/v1/auth/signup', {
        headers: { 'x-forwarded-for': freshIp() },
        body: {
          tenantName: 'Again',
          displayName: 'Again',
          email: owner.email.toUpperCase(),
          password: GOOD_PASSWORD,
        },
      });
      expect(res.status).toBe(409);
      const { rows } = await sql('admin', 'SELECT 1 FROM "Tenant" WHERE name = $1', ['Again']);
      expect(rows).toHaveLength(0);
    });
  });

  describe('sign-in', () => {
    it('gives the same answer for an unknown e-mail and a wrong password', async () => {
      const owner = await signup(api);
      const unknown = await login(api, { email: 'nobody-here@example.com', password: 'x' });
      const wrong = await login(api, { email: owner.email, password: 'Wrong-Password-123' });
      expect(unknown.status).toBe(401);
      expect(wrong.status).toBe(401);
      expect((unknown.body as unknown as ErrorBody).error.message).toBe(
        (wrong.body as unknown as ErrorBody).error.message,
      );
      expect((wrong.body as unknown as ErrorBody).error.code).toBe('UNAUTHENTICATED');
      // Both failures are in the platform's audit chain, the known user's by id only.
      const { rows } = await sql<{ targetId: string | null; metadata: { reason: string } }>(
        'admin',
        `SELECT "targetId", metadata FROM "AuditEvent"
          WHERE "tenantId" = '00000000-0000-0000-0000-000000000000'
            AND action = 'auth.login_failed' AND "targetId" = $1`,
        [owner.userId],
      );
      expect(rows).toEqual([{ targetId: owner.userId, metadata: { reason: 'bad_credentials' } }]);
    });

    it('signs in with the e-mail in any case, into the only tenant', async () => {
      const owner = await signup(api);
      const res = await login(api, { email: owner.email.toUpperCase(), password: owner.password });
      expect(res.status).toBe(200);
      expect(res.token).toMatch(/^ibhq_s_[A-Za-z0-9_-]{43}$/);
      expect(res.body).toMatchObject({ session: { tenantId: owner.tenantId, role: 'owner' } });
      const leads = await api.request('GET', '/v1/leads', { headers: bearer(res.token) });
      expect(leads.status).toBe(200);
    });

    it('delivers the session as a Secure HttpOnly SameSite cookie, without the token in the body', async () => {
      const owner = await signup(api);
      const res = await login(api, {
        email: owner.email,
        password: owner.password,
        delivery: 'cookie',
      });
      expect(res.status).toBe(200);
      expect(res.body.token).toBeUndefined();
      const cookie = res.headers.get('set-cookie')!;
      expect(cookie).toMatch(/^ibhq_session=ibhq_s_[A-Za-z0-9_-]{43};/);
      expect(cookie).toMatch(/HttpOnly/i);
      expect(cookie).toMatch(/Secure/i);
      expect(cookie).toMatch(/SameSite=Lax/i);
      const me = await api.request('GET', '/v1/auth/me', {
        headers: { cookie: cookie.split(';')[0]! },
      });
      expect(me.status).toBe(200);
      const out = await api.request('POST', '/v1/auth/logout', {
        headers: { cookie: cookie.split(';')[0]! },
      });
      expect(out.status).toBe(204);
      expect(out.headers.get('set-cookie')).toMatch(/ibhq_session=;/);
      const after = await api.request('GET', '/v1/auth/me', {
        headers: { cookie: cookie.split(';')[0]! },
      });
      expect(after.status).toBe(401);
    });

    it('lets a member of several tenants choose one, and only one of theirs', async () => {
      const first = await signup(api, { tenantName: 'First' });
      const second = await signup(api, { tenantName: 'Second' });
      const member = await addMember(api, first, 'agent');
      // Invite the same person to the second tenant; they accept with their password.
      await api.request('POST', '/v1/invitations', {
        headers: bearer(second.token),
        body: { email: member.email, role: 'viewer' },
      });
      const { invitationToken } = await import('../support/accounts.js');
      const token = await invitationToken(second.tenantId, member.email);
      const accepted = await api.request('POST', '/v1/invitations/accept', {
        headers: { 'x-forwarded-for': freshIp() },
        body: { token, password: GOOD_PASSWORD },
      });
      expect(accepted.status).toBe(200);

      const res = await login(api, { email: member.email, password: GOOD_PASSWORD });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ session: { tenantId: null, role: null } });
      expect((res.body.memberships as unknown[]).length).toBe(2);
      // No tenant chosen yet: tenant routes say what to do.
      const blocked = await api.request('GET', '/v1/leads', { headers: bearer(res.token) });
      expect(blocked.status).toBe(403);
      expect((blocked.body as ErrorBody).error.message).toContain('switch-tenant');

      const switched = await api.request('POST', '/v1/auth/switch-tenant', {
        headers: bearer(res.token),
        body: { tenantId: second.tenantId },
      });
      expect(switched.status).toBe(200);
      expect(switched.body).toMatchObject({ tenantId: second.tenantId, role: 'viewer' });
      const tenant = await api.request('GET', '/v1/tenant', { headers: bearer(res.token) });
      expect(tenant.body).toMatchObject({ id: second.tenantId, name: 'Second' });

      const foreign = await signup(api);
      const refused = await api.request('POST', '/v1/auth/switch-tenant', {
        headers: bearer(res.token),
        body: { tenantId: foreign.tenantId },
      });
      expect(refused.status).toBe(404);
      const direct = await login(api, {
        email: member.email,
        password: GOOD_PASSWORD,
        tenantId: foreign.tenantId,
      });
      expect(direct.status).toBe(403);
    });

    it.each([
      ['Basic abc', 'must be "Bearer <token>"'],
      ['Bearer ibhq_s_not-a-real-token', 'session has ended'],
      ['Bearer ibhq_k_garbage', 'API key is not valid'],
    ])('answers 401 for Authorization: %s', async (authorization, message) => {
      const res = await api.request('GET', '/v1/auth/me', { headers: { authorization } });
      expect(res.status).toBe(401);
      expect((res.body as ErrorBody).error.message).toContain(message);
    });
  });

  describe('sessions', () => {
    it('keeps only the hash of the token in Redis, for at most 24 hours, sliding', async () => {
      const owner = await signup(api);
      const keys = await redis.keys(`${process.env.REDIS_KEY_PREFIX!}:session:*`);
      expect(keys).toContain(sessionKey(owner.token));
      for (const key of keys) {
        expect(key).not.toContain(owner.token);
        expect(await redis.get(key)).not.toContain(owner.token);
      }
      await redis.expire(sessionKey(owner.token), 1000);
      expect(await redis.ttl(sessionKey(owner.token))).toBeLessThanOrEqual(1000);
      // A use renews the time to live, to the configured 24 hours and no more.
      await api.request('GET', '/v1/auth/me', { headers: bearer(owner.token) });
      const ttl = await redis.ttl(sessionKey(owner.token));
      expect(ttl).toBeGreaterThan(86_000);
      expect(ttl).toBeLessThanOrEqual(86_400);
    });

    it('ends when its time to live runs out', async () => {
      const owner = await signup(api);
      await redis.pexpire(sessionKey(owner.token), 50);
      await new Promise((r) => setTimeout(r, 120));
      const res = await api.request('GET', '/v1/auth/me', { headers: bearer(owner.token) });
      expect(res.status).toBe(401);
    });

    it('lists the active sessions, revokes one, and logs out everywhere', async () => {
      const owner = await signup(api);
      const second = await login(api, { email: owner.email, password: owner.password });
      const third = await login(api, { email: owner.email, password: owner.password });
      const list = await api.request('GET', '/v1/auth/sessions', { headers: bearer(owner.token) });
      const items = (list.body as { items: { id: string; current: boolean; ip: string }[] }).items;
      expect(items).toHaveLength(3);
      expect(items.filter((s) => s.current)).toHaveLength(1);
      expect(JSON.stringify(list.body)).not.toContain('ibhq_s_');

      const secondId = (second.body.session as { id: string }).id;
      const revoked = await api.request('DELETE', `/v1/auth/sessions/${secondId}`, {
        headers: bearer(owner.token),
      });
      expect(revoked.status).toBe(204);
      expect(
        (await api.request('GET', '/v1/auth/me', { headers: bearer(second.token) })).status,
      ).toBe(401);
      expect(
        (await api.request('GET', '/v1/auth/me', { headers: bearer(third.token) })).status,
      ).toBe(200);
      // Another user's session id is not found (not revoked).
      const stranger = await signup(api);
      const foreign = await api.request('DELETE', `/v1/auth/sessions/${secondId}`, {
        headers: bearer(stranger.token),
      });
      expect(foreign.status).toBe(404);

      const all = await api.request('POST', '/v1/auth/logout-all', {
        headers: bearer(owner.token),
      });
      expect(all.body).toEqual({ ended: 2 });
      for (const token of [owner.token, third.token]) {
        expect((await api.request('GET', '/v1/auth/me', { headers: bearer(token) })).status).toBe(
          401,
        );
      }
      expect(
        (await api.request('GET', '/v1/auth/me', { headers: bearer(stranger.token) })).status,
      ).toBe(200);
    });

    it('records sign-up, sign-in and sign-out in the tenant audit trail', async () => {
      const owner = await signup(api);
      const again = await login(api, { email: owner.email, password: owner.password });
      await api.request('POST', '/v1/auth/logout', { headers: bearer(again.token) });
      const events = await api.request('GET', '/v1/audit-events?limit=50', {
        headers: bearer(owner.token),
      });
      const actions = (events.body as { items: { action: string; actor: { id: string } }[] }).items
        .map((e) => e.action)
        .reverse();
      expect(actions).toEqual(['auth.signup', 'auth.login', 'auth.login', 'auth.logout']);
    });
  });
});
