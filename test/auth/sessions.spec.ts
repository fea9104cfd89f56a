import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clock, ErrorCode } from '@ibhq/core';
import { RedisConnection } from '@ibhq/redis';
import { hashToken, SessionStore, type NewSession } from '@ibhq/auth';
import { testConfig } from '../support/db.js';

// A key space of this file's own, so that scanning it sees only these sessions.
const config = testConfig({
  REDIS_KEY_PREFIX: `${process.env.REDIS_KEY_PREFIX!}-sess`,
  SESSION_TTL_SECONDS: '300',
});
const redis = new RedisConnection(config);
const store = new SessionStore(redis, new Clock(), config);

const tenantA = randomUUID();
const tenantB = randomUUID();
const data = (userId: string, over: Partial<NewSession> = {}): NewSession => ({
  userId,
  tenantId: tenantA,
  role: 'agent',
  mfa: true,
  ip: '203.0.113.7',
  userAgent: 'vitest',
  ...over,
});
const ttlOf = (token: string) => redis.client.ttl(redis.key('session', hashToken(token)));

beforeAll(async () => {
  if (redis.client.status !== 'ready') await once(redis.client, 'ready');
});

afterAll(async () => {
  await redis.onApplicationShutdown();
});

describe('SessionStore', () => {
  it('returns an ibhq_s_ token that Redis never holds, only its hash', async () => {
    const userId = randomUUID();
    const { token, session } = await store.create(data(userId));
    expect(token).toMatch(/^ibhq_s_[A-Za-z0-9_-]{43}$/);
    expect(session).toMatchObject({ userId, tenantId: tenantA, role: 'agent', mfa: true });
    expect(session.id).toMatch(/^[0-9a-f-]{36}$/);

    const keys = await redis.client.keys(`${config.redis.keyPrefix}:*`);
    expect(keys).toContain(redis.key('session', hashToken(token)));
    const secret = token.slice('ibhq_s_'.length);
    for (const key of keys) {
      expect(key).not.toContain(secret);
      const type = await redis.client.type(key);
      const value =
        type === 'hash'
          ? JSON.stringify(await redis.client.hgetall(key))
          : ((await redis.client.get(key)) ?? '');
      expect(value).not.toContain(secret);
    }
  });

  it('finds the session of a token and renews its time to live (sliding)', async () => {
    const { token, session } = await store.create(data(randomUUID()));
    const ttl = await ttlOf(token);
    expect(ttl).toBeGreaterThan(290);
    expect(ttl).toBeLessThanOrEqual(300);
    await redis.client.expire(redis.key('session', hashToken(token)), 100);
    expect(await ttlOf(token)).toBeLessThanOrEqual(100);
    expect(await store.touch(token)).toEqual(session);
    expect(await ttlOf(token)).toBeGreaterThan(290);
  });

  it('never keeps a session longer than 24 hours, whatever the caller asks', async () => {
    const dayStore = new SessionStore(
      redis,
      new Clock(),
      testConfig({ REDIS_KEY_PREFIX: config.redis.keyPrefix }),
    );
    expect(dayStore.ttlSeconds).toBe(86_400);
    const { token } = await dayStore.create(data(randomUUID()));
    expect(await ttlOf(token)).toBeLessThanOrEqual(86_400);
    const { token: long, session } = await dayStore.create(data(randomUUID()), 7 * 86_400);
    expect(await ttlOf(long)).toBeLessThanOrEqual(86_400);
    expect(Date.parse(session.expiresAt!) - Date.parse(session.createdAt)).toBeLessThanOrEqual(
      86_400_000,
    );
    // Nor beyond the configured lifetime (300 s here).
    const { token: t2 } = await store.create(data(randomUUID()), 3600);
    expect(await ttlOf(t2)).toBeLessThanOrEqual(300);
  });

  it('does not extend a session created with a lifetime of its own', async () => {
    const { token, session } = await store.create(
      data(randomUUID(), { role: 'staff', staffReason: 'ticket 42' }),
      120,
    );
    expect(session.expiresAt).toBeDefined();
    expect(await ttlOf(token)).toBeLessThanOrEqual(120);
    expect((await store.touch(token))?.staffReason).toBe('ticket 42');
    expect(await ttlOf(token)).toBeLessThanOrEqual(120);
  });

  it('answers null for garbage, unknown and ended sessions', async () => {
    for (const garbage of [
      '',
      'x',
      'ibhq_s_short',
      `Bearer ibhq_s_${'a'.repeat(43)}`,
      `ibhq_s_${'!'.repeat(43)}`,
    ]) {
      expect(await store.touch(garbage)).toBeNull();
    }
    expect(await store.touch(`ibhq_s_${'a'.repeat(43)}`)).toBeNull();
    expect(await store.update(`ibhq_s_${'a'.repeat(43)}`, { mfa: false })).toBeNull();
    const { token } = await store.create(data(randomUUID()));
    await redis.client.del(redis.key('session', hashToken(token)));
    expect(await store.touch(token)).toBeNull();
    expect(await store.update(token, { mfa: false })).toBeNull();
    // update() does not bring an ended session back.
    expect(await redis.client.exists(redis.key('session', hashToken(token)))).toBe(0);
  });

  it('lists the live sessions of a user, oldest first, and forgets ended ones', async () => {
    const userId = randomUUID();
    const first = await store.create(data(userId));
    const second = await store.create(data(userId, { tenantId: tenantB }));
    const third = await store.create(data(userId));
    await store.create(data(randomUUID())); // someone else's
    expect((await store.list(userId)).map((s) => s.id)).toEqual(
      [first, second, third].map((c) => c.session.id),
    );
    await redis.client.del(redis.key('session', hashToken(second.token)));
    expect((await store.list(userId)).map((s) => s.id)).toEqual(
      [first, third].map((c) => c.session.id),
    );
    expect(await redis.client.hkeys(redis.key('user-sessions', userId))).not.toContain(
      second.session.id,
    );
    expect(await store.list(randomUUID())).toEqual([]);
  });

  it('revokes one session, only its owner can, and the token stops working at once', async () => {
    const userId = randomUUID();
    const a = await store.create(data(userId));
    const b = await store.create(data(userId));
    expect(await store.revoke(randomUUID(), a.session.id)).toBe(false);
    expect(await store.touch(a.token)).not.toBeNull();
    expect(await store.revoke(userId, a.session.id)).toBe(true);
    expect(await store.touch(a.token)).toBeNull();
    expect(await store.revoke(userId, a.session.id)).toBe(false);
    expect(await store.touch(b.token)).not.toBeNull();
  });

  it('revokeToken logs out the session of a token', async () => {
    const userId = randomUUID();
    const a = await store.create(data(userId));
    const b = await store.create(data(userId));
    expect((await store.revokeToken(a.token))?.id).toBe(a.session.id);
    expect(await store.touch(a.token)).toBeNull();
    expect(await store.revokeToken(a.token)).toBeNull();
    expect((await store.list(userId)).map((s) => s.id)).toEqual([b.session.id]);
  });

  it("revokeWhere ends everything, or the sessions a filter picks (a tenant's)", async () => {
    const userId = randomUUID();
    const inA = await store.create(data(userId));
    const inB = await store.create(data(userId, { tenantId: tenantB }));
    const inA2 = await store.create(data(userId));
    expect(await store.revokeWhere(userId, (s) => s.tenantId === tenantA)).toBe(2);
    expect(await store.touch(inA.token)).toBeNull();
    expect(await store.touch(inA2.token)).toBeNull();
    expect(await store.touch(inB.token)).not.toBeNull();
    await store.create(data(userId));
    expect(await store.revokeWhere(userId)).toBe(2);
    expect(await store.touch(inB.token)).toBeNull();
    expect(await store.list(userId)).toEqual([]);
  });

  it("updateRole rewrites the role of the user's sessions in one tenant, not staff ones, without extending them", async () => {
    const userId = randomUUID();
    const inA = await store.create(data(userId));
    const inB = await store.create(data(userId, { tenantId: tenantB }));
    const staff = await store.create(data(userId, { role: 'staff', staffReason: 'audit' }), 120);
    await redis.client.expire(redis.key('session', hashToken(inA.token)), 200);
    await store.updateRole(userId, tenantA, 'admin');
    expect(await ttlOf(inA.token)).toBeLessThanOrEqual(200);
    expect((await store.touch(inA.token))?.role).toBe('admin');
    expect((await store.touch(inB.token))?.role).toBe('agent');
    expect((await store.touch(staff.token))?.role).toBe('staff');
  });

  it('update patches a session (tenant switch, second factor) and keeps its time to live', async () => {
    const { token, session } = await store.create(data(randomUUID(), { mfa: false }));
    await redis.client.expire(redis.key('session', hashToken(token)), 150);
    const updated = await store.update(token, { mfa: true, tenantId: tenantB, role: 'owner' });
    expect(updated).toEqual({ ...session, mfa: true, tenantId: tenantB, role: 'owner' });
    expect(await ttlOf(token)).toBeLessThanOrEqual(150);
    expect(await store.touch(token)).toEqual(updated);
  });

  it('answers DEPENDENCY_UNAVAILABLE when Redis is down, and null for garbage without asking it', async () => {
    const down = new RedisConnection(testConfig({ REDIS_URL: 'redis://127.0.0.1:1' }));
    try {
      const broken = new SessionStore(down, new Clock(), config);
      expect(await broken.touch('not a token')).toBeNull();
      for (const attempt of [
        () => broken.create(data(randomUUID())),
        () => broken.touch(`ibhq_s_${'a'.repeat(43)}`),
        () => broken.list(randomUUID()),
        () => broken.revokeWhere(randomUUID()),
      ]) {
        await expect(attempt()).rejects.toMatchObject({ code: ErrorCode.DependencyUnavailable });
      }
    } finally {
      down.client.disconnect();
    }
  });
});
