import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signTelegramLogin } from '@ibhq/auth';
import { startApi, type RunningApi } from '../support/apps.js';
import {
  ACCOUNTS_ENV,
  bearer,
  createApiKey,
  freshIp,
  GOOD_PASSWORD,
  login,
  signup,
} from '../support/accounts.js';

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

const BOT_TOKEN = '7777777777:AAHk4PqWmXn2TzV9yB3cR8sD1fG6hJ0kL5e';

function widget<T extends Record<string, string | number>>(fields: T): T & { hash: string } {
  return { ...fields, hash: signTelegramLogin(BOT_TOKEN, fields) };
}

describe('Telegram sign-in', () => {
  let api: RunningApi;
  beforeAll(async () => {
    api = await startApi({ ...ACCOUNTS_ENV, TELEGRAM_BOT_TOKEN: BOT_TOKEN });
  });
  afterAll(() => api.close());

  const now = () => Math.floor(Date.now() / 1000);

  it('links a Telegram account to a user, then signs that user in with it', async () => {
    const user = await signup(api);
    const telegramId = 100_000_000 + Math.floor(Math.random() * 1e8);
    const linked = await api.request('POST', '/v1/auth/telegram/link', {
      headers: bearer(user.token),
      body: { telegram: widget({ id: telegramId, username: 'ib_olga', auth_date: now() }) },
    });
    expect(linked.status).toBe(200);
    expect(linked.body).toMatchObject({
      telegram: { userId: String(telegramId), username: 'ib_olga' },
    });

    const signedIn = await api.request('POST', '/v1/auth/telegram', {
      headers: { 'x-forwarded-for': freshIp() },
      body: { telegram: widget({ id: telegramId, first_name: 'Olga', auth_date: now() }) },
    });
    expect(signedIn.status).toBe(200);
    expect(signedIn.body).toMatchObject({
      user: { id: user.userId },
      session: { tenantId: user.tenantId, role: 'owner' },
    });
    const events = await api.request('GET', '/v1/audit-events?action=auth.login', {
      headers: bearer(user.token),
    });
    expect(
      (events.body as { items: { metadata: { method: string } }[] }).items[0]!.metadata.method,
    ).toBe('telegram');

    // The same Telegram account cannot be linked to a second user.
    const other = await signup(api);
    const taken = await api.request('POST', '/v1/auth/telegram/link', {
      headers: bearer(other.token),
      body: { telegram: widget({ id: telegramId, auth_date: now() }) },
    });
    expect(taken.status).toBe(409);
  });

  it('refuses a forged hash, a changed or added field, an old or future authorisation', async () => {
    const user = await signup(api);
    const telegramId = 200_000_000 + Math.floor(Math.random() * 1e8);
    await api.request('POST', '/v1/auth/telegram/link', {
      headers: bearer(user.token),
      body: { telegram: widget({ id: telegramId, auth_date: now() }) },
    });
    const good = widget({ id: telegramId, username: 'ib_olga', auth_date: now() });
    const forgedHash = { ...good, hash: (good.hash[0] === 'a' ? 'b' : 'a') + good.hash.slice(1) };
    const cases: [string, Record<string, string | number>, number][] = [
      ['forged hash', forgedHash, 401],
      ['changed username', { ...good, username: 'someone_else' }, 401],
      ['changed id', { ...good, id: telegramId + 1 }, 401],
      ['added field', { ...good, photo_url: 'https://t.me/i/userpic/1.jpg' }, 401],
      [
        'hash signed with another bot',
        {
          ...good,
          hash: signTelegramLogin('1:' + 'x'.repeat(35), {
            id: telegramId,
            username: 'ib_olga',
            auth_date: good.auth_date,
          }),
        },
        401,
      ],
      ['two days old', widget({ id: telegramId, auth_date: now() - 2 * 86_400 }), 401],
      ['five minutes ahead', widget({ id: telegramId, auth_date: now() + 300 }), 401],
      ['malformed hash', { ...good, hash: 'zz' }, 400],
    ];
    for (const [name, telegram, status] of cases) {
      const res = await api.request('POST', '/v1/auth/telegram', {
        headers: { 'x-forwarded-for': freshIp() },
        body: { telegram },
      });
      expect(res.status, name).toBe(status);
    }
    // The genuine one still works.
    const ok = await api.request('POST', '/v1/auth/telegram', {
      headers: { 'x-forwarded-for': freshIp() },
      body: { telegram: good },
    });
    expect(ok.status).toBe(200);
  });

  it('says so for a Telegram account linked to nobody', async () => {
    const res = await api.request('POST', '/v1/auth/telegram', {
      headers: { 'x-forwarded-for': freshIp() },
      body: { telegram: widget({ id: 42, auth_date: now() }) },
    });
    expect(res.status).toBe(401);
    expect((res.body as ErrorBody).error.message).toContain('no IBHQ account is linked');
  });

  it('is off (404) where no bot token is configured', async () => {
    const off = await startApi(ACCOUNTS_ENV);
    try {
      const res = await off.request('POST', '/v1/auth/telegram', {
        headers: { 'x-forwarded-for': freshIp() },
        body: { telegram: widget({ id: 42, auth_date: now() }) },
      });
      expect(res.status).toBe(404);
      expect(off.logs.text).not.toContain(BOT_TOKEN);
    } finally {
      await off.close();
    }
    expect(api.logs.text).not.toContain(BOT_TOKEN);
  });
});

describe('staff break-glass access', () => {
  const STAFF = `staff-${Date.now()}@ibhq.example`;
  let api: RunningApi;
  beforeAll(async () => {
    api = await startApi({ ...ACCOUNTS_ENV, STAFF_EMAILS: `someone@ibhq.example,${STAFF}` });
  });
  afterAll(() => api.close());

  it('opens a tenant read-only for staff with a reason, visible in the tenant audit trail', async () => {
    const tenant = await signup(api);
    await api.request('POST', '/v1/leads', {
      headers: bearer(tenant.token),
      body: { displayName: 'Lead under review' },
    });
    const staff = await signup(api, { email: STAFF });
    const outsider = await signup(api);

    const noReason = await api.request('POST', '/v1/staff/access', {
      headers: bearer(staff.token),
      body: { tenantId: tenant.tenantId, reason: 'x' },
    });
    expect(noReason.status).toBe(400);
    const notStaff = await api.request('POST', '/v1/staff/access', {
      headers: bearer(outsider.token),
      body: { tenantId: tenant.tenantId, reason: 'Support ticket #4521: leads missing' },
    });
    expect(notStaff.status).toBe(403);

    const granted = await api.request('POST', '/v1/staff/access', {
      headers: bearer(staff.token),
      body: { tenantId: tenant.tenantId, reason: 'Support ticket #4521: leads missing' },
    });
    expect(granted.status).toBe(201);
    const { token, expiresInSeconds } = granted.body as { token: string; expiresInSeconds: number };
    expect(expiresInSeconds).toBe(3600);

    const leads = await api.request('GET', '/v1/leads', { headers: bearer(token) });
    expect(leads.status).toBe(200);
    expect(JSON.stringify(leads.body)).toContain('Lead under review');
    const write = await api.request('POST', '/v1/leads', {
      headers: bearer(token),
      body: { displayName: 'Staff must not write' },
    });
    expect(write.status).toBe(403);
    const invite = await api.request('POST', '/v1/invitations', {
      headers: bearer(token),
      body: { email: 'x@example.com', role: 'admin' },
    });
    expect(invite.status).toBe(403);
    // Read-only on the staff user's own account routes too; reading and signing out work.
    const enrol = await api.request('POST', '/v1/auth/2fa/enrol', { headers: bearer(token) });
    expect(enrol.status).toBe(403);
    expect((await api.request('GET', '/v1/auth/me', { headers: bearer(token) })).status).toBe(200);

    const events = await api.request('GET', '/v1/audit-events?action=staff.access_granted', {
      headers: bearer(tenant.token),
    });
    const [event] = (
      events.body as { items: { actor: unknown; metadata: Record<string, unknown> }[] }
    ).items;
    expect(event).toMatchObject({
      actor: { type: 'staff', id: staff.userId },
      metadata: { reason: 'Support ticket #4521: leads missing' },
    });
  });
});

describe('brute-force protection and API rate limits', () => {
  let api: RunningApi;
  beforeAll(async () => {
    api = await startApi(ACCOUNTS_ENV);
  });
  afterAll(() => api.close());

  it('locks an account after 10 failed sign-ins (429 + Retry-After), even for the right password', async () => {
    const user = await signup(api);
    for (let i = 0; i < 10; i++) {
      const res = await login(api, { email: user.email, password: `Wrong-Password-${i}` });
      expect(res.status).toBe(401);
    }
    const locked = await login(api, { email: user.email, password: user.password });
    expect(locked.status).toBe(429);
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect((locked.body as unknown as ErrorBody).error.code).toBe('RATE_LIMITED');
    // Another account is not affected.
    const other = await signup(api);
    expect((await login(api, { email: other.email, password: other.password })).status).toBe(200);
  });

  it('limits sign-ups per address (10 an hour)', async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await api.request('POST', '/v1/auth/signup', {
        headers: { 'x-forwarded-for': ip },
        body: {
          tenantName: 'Flood',
          displayName: 'F',
          email: `flood-${i}-${Date.now()}@example.com`,
          password: 'x',
        },
      });
      statuses.push(res.status);
      if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(statuses.slice(0, 10).every((s) => s === 400)).toBe(true); // weak password, counted
    expect(statuses[10]).toBe(429);
  });

  it('limits invitation acceptance per address (20 an hour)', async () => {
    const ip = freshIp();
    let last = 0;
    for (let i = 0; i < 21; i++) {
      const res = await api.request('POST', '/v1/invitations/accept', {
        headers: { 'x-forwarded-for': ip },
        body: { token: `bogus.${i}`, password: GOOD_PASSWORD },
      });
      last = res.status;
      if (i < 20) expect(res.status).toBe(400);
    }
    expect(last).toBe(429);
  });

  it('rate-limits each API key per minute (tenant setting) with RateLimit-* headers', async () => {
    const owner = await signup(api);
    const set = await api.request('PATCH', '/v1/tenant/settings', {
      headers: bearer(owner.token),
      body: { apiRateLimitPerMinute: 3 },
    });
    expect(set.body).toMatchObject({ apiRateLimitPerMinute: 3, apiRateLimitIsDefault: false });
    const key = await createApiKey(api, owner, ['leads:read']);
    const other = await createApiKey(api, owner, ['leads:read']);
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await api.request('GET', '/v1/leads', { headers: bearer(key.key) });
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBe('3');
      remaining.push(res.headers.get('ratelimit-remaining')!);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const over = await api.request('GET', '/v1/leads', { headers: bearer(key.key) });
    expect(over.status).toBe(429);
    expect(over.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(over.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    // Per key: another key of the tenant still has its own budget.
    expect((await api.request('GET', '/v1/leads', { headers: bearer(other.key) })).status).toBe(
      200,
    );
    // Sessions are not rate-limited by the key limit.
    expect((await api.request('GET', '/v1/leads', { headers: bearer(owner.token) })).status).toBe(
      200,
    );
  });

  it('records API key creation and revocation, and a revoked key stops at once', async () => {
    const owner = await signup(api);
    const key = await createApiKey(api, owner, ['leads:read', 'leads:write']);
    expect(key.key).toMatch(/^ibhq_k_/);
    expect((await api.request('GET', '/v1/leads', { headers: bearer(key.key) })).status).toBe(200);
    const list = await api.request('GET', '/v1/api-keys', { headers: bearer(owner.token) });
    expect(list.text).not.toContain(key.key);
    expect(list.body).toMatchObject({
      items: [{ id: key.id, scopes: ['leads:read', 'leads:write'] }],
    });
    const revoked = await api.request('DELETE', `/v1/api-keys/${key.id}`, {
      headers: bearer(owner.token),
    });
    expect(revoked.status).toBe(200);
    expect((await api.request('GET', '/v1/leads', { headers: bearer(key.key) })).status).toBe(401);
    const events = await api.request('GET', '/v1/audit-events?action=api_key.*', {
      headers: bearer(owner.token),
    });
    expect((events.body as { items: { action: string }[] }).items.map((e) => e.action)).toEqual([
      'api_key.revoked',
      'api_key.created',
    ]);
  });
});

/** A TCP proxy to Redis that a test can cut and restore. */
async function redisProxy(): Promise<{
  port: number;
  cut(): void;
  restore(): Promise<void>;
}> {
  const target = new URL(process.env.REDIS_URL!);
  const sockets = new Set<net.Socket>();
  let server: net.Server;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 6379), target.hostname);
        sockets.add(client).add(upstream);
        client.pipe(upstream).pipe(client);
        const drop = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  await listen();
  const cut = () => {
    server.close();
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    get port() {
      return port;
    },
    cut,
    restore: listen,
  };
}

describe('Redis down', () => {
  it('answers sign-in with 503 at once, and recovers when Redis returns', async () => {
    const proxy = await redisProxy();
    const api = await startApi({
      ...ACCOUNTS_ENV,
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
    });
    try {
      const user = await signup(api);
      proxy.cut();
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      const down = await login(api, { email: user.email, password: user.password });
      expect(down.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect((down.body as unknown as ErrorBody).error.message).toMatch(/unavailable/i);
      expect(down.headers.get('retry-after')).toBe('5');
      // A session cannot be checked either: 503, not 401.
      expect(
        (await api.request('GET', '/v1/auth/me', { headers: bearer(user.token) })).status,
      ).toBe(503);

      await proxy.restore();
      const deadline = Date.now() + 15_000;
      let status = 0;
      while (Date.now() < deadline) {
        status = (await login(api, { email: user.email, password: user.password })).status;
        if (status === 200) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(status).toBe(200);
    } finally {
      await api.close();
      proxy.cut();
    }
  });
});
