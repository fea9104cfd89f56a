import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Clock, CoreModule, ErrorCode, NotFoundError, type TenantId } from '@ibhq/core';
import { PlatformDb, TenantDb } from '@ibhq/db';
import { RedisConnection } from '@ibhq/redis';
import {
  ApiKeyService,
  AuthModule,
  createApiKeyBody,
  PasswordService,
  RATE_LIMIT_OVERRIDES,
  RateLimits,
  SessionStore,
  TelegramLoginVerifier,
  TotpService,
} from '@ibhq/auth';
import { testConfig, sql, createTenantRow, asTenant } from '../support/db.js';

/** The real clock, until a test moves it. */
class MovableClock extends Clock {
  offsetMs = 0;
  override now(): Date {
    return new Date(this.nowMs());
  }
  override nowMs(): number {
    return Date.now() + this.offsetMs;
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const KEY = /^ibhq_k_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}$/;

describe('ApiKeyService', () => {
  const clock = new MovableClock();
  let moduleRef: TestingModule;
  let keys: ApiKeyService;
  let redis: RedisConnection;
  let platform: PlatformDb;
  let tenantA: TenantId;
  let tenantB: TenantId;

  beforeAll(async () => {
    const config = testConfig({ BCRYPT_COST: '4' });
    moduleRef = await Test.createTestingModule({
      imports: [CoreModule.forRoot(config), AuthModule],
    })
      .overrideProvider(Clock)
      .useValue(clock)
      .compile();
    await moduleRef.init();
    keys = moduleRef.get(ApiKeyService);
    redis = moduleRef.get(RedisConnection, { strict: false });
    platform = moduleRef.get(PlatformDb, { strict: false });
    if (redis.client.status !== 'ready') await once(redis.client, 'ready');
    [tenantA, tenantB] = await Promise.all([createTenantRow('Keys A'), createTenantRow('Keys B')]);
  });

  afterAll(async () => {
    await moduleRef.close();
  });

  const create = (tenant: TenantId, over: Partial<Parameters<ApiKeyService['create']>[0]> = {}) =>
    asTenant(tenant, () =>
      keys.create({ name: 'CRM sync', scopes: ['leads:read'], createdById: null, ...over }),
    );

  it('AuthModule provides every service', () => {
    for (const provider of [
      PasswordService,
      TotpService,
      TelegramLoginVerifier,
      RateLimits,
      ApiKeyService,
      SessionStore,
    ]) {
      expect(moduleRef.get(provider)).toBeInstanceOf(provider);
    }
    expect(moduleRef.get(RATE_LIMIT_OVERRIDES)).toEqual({});
  });

  it('shows the key once and stores only its SHA-256 and visible prefix', async () => {
    const createdBy = randomUUID();
    const { key, apiKey } = await create(tenantA, {
      name: 'Zapier',
      scopes: ['leads:read', 'leads:write'],
      createdById: createdBy,
    });
    expect(key).toMatch(KEY);
    expect(apiKey).toMatchObject({
      name: 'Zapier',
      prefix: key.slice(0, 'ibhq_k_'.length + 8),
      scopes: ['leads:read', 'leads:write'],
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
      createdById: createdBy,
    });
    expect(apiKey.createdAt).toBeInstanceOf(Date);
    expect(Object.keys(apiKey)).not.toContain('secretHash');

    const { rows } = await sql<{ row: string; secretHash: string; tenantId: string }>(
      'admin',
      `SELECT row_to_json(k)::text AS row, k."secretHash", k."tenantId" FROM "ApiKey" k WHERE id = $1`,
      [apiKey.id],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.tenantId).toBe(tenantA);
    expect(rows[0]!.secretHash).toBe(sha256(key));
    const secret = key.split('_').slice(3).join('_');
    expect(rows[0]!.row).not.toContain(key);
    expect(rows[0]!.row).not.toContain(secret);
  });

  it('authenticates a key to its tenant, scopes and name', async () => {
    const { key, apiKey } = await create(tenantA, { scopes: ['leads:read', 'audit:read'] });
    const expected = {
      id: apiKey.id,
      tenantId: tenantA,
      scopes: ['leads:read', 'audit:read'],
      name: 'CRM sync',
    };
    expect(await keys.authenticate(key)).toEqual(expected);
    // Again, from the cache, without the database.
    const lookup = vi.spyOn(platform, 'lookup');
    expect(await keys.authenticate(key)).toEqual(expected);
    expect(lookup).not.toHaveBeenCalled();
    const ttl = await redis.client.ttl(redis.key('apikey', sha256(key)));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('answers null for garbage without a database read, and for unknown keys', async () => {
    const lookup = vi.spyOn(platform, 'lookup');
    const { key } = await create(tenantA);
    for (const garbage of [
      '',
      'ibhq_k_',
      `${key}x`,
      key.slice(0, -1),
      `Bearer ${key}`,
      key.replace('ibhq_k_', 'ibhq_s_'),
    ]) {
      expect(await keys.authenticate(garbage)).toBeNull();
    }
    expect(lookup).not.toHaveBeenCalled();
    const unknown = `ibhq_k_AAAAAAAA_${'x'.repeat(43)}`;
    expect(await keys.authenticate(unknown)).toBeNull();
    expect(await keys.authenticate(unknown)).toBeNull();
    expect(lookup).toHaveBeenCalledTimes(1); // the miss is remembered for a few seconds
  });

  it('stops a revoked key at once, even though it was cached', async () => {
    const { key, apiKey } = await create(tenantA);
    expect(await keys.authenticate(key)).not.toBeNull();
    expect(await redis.client.exists(redis.key('apikey', sha256(key)))).toBe(1);
    const revoked = await asTenant(tenantA, () => keys.revoke(apiKey.id));
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect(await keys.authenticate(key)).toBeNull();
    // Revoking again changes nothing.
    const again = await asTenant(tenantA, () => keys.revoke(apiKey.id));
    expect(again).toEqual(revoked);
    expect(await keys.authenticate(key)).toBeNull();
  });

  it("answers NOT_FOUND for another tenant's key, which keeps working", async () => {
    const { key, apiKey } = await create(tenantA);
    for (const id of [apiKey.id, randomUUID(), 'not-a-uuid']) {
      const attempt = asTenant(tenantB, () => keys.revoke(id));
      await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
      await expect(asTenant(tenantB, () => keys.revoke(id))).rejects.toMatchObject({
        code: ErrorCode.NotFound,
        message: 'API key not found',
      });
    }
    expect((await keys.authenticate(key))?.tenantId).toBe(tenantA);
    const { rows } = await sql('admin', `SELECT "revokedAt" FROM "ApiKey" WHERE id = $1`, [
      apiKey.id,
    ]);
    expect(rows[0]!.revokedAt).toBeNull();
  });

  it('refuses an expired key, cached or not', async () => {
    const soon = new Date(clock.nowMs() + 30_000);
    const { key } = await create(tenantA, { expiresAt: soon });
    expect(await keys.authenticate(key)).not.toBeNull();
    const ttl = await redis.client.ttl(redis.key('apikey', sha256(key)));
    expect(ttl).toBeLessThanOrEqual(30); // the cache never outlives the key
    clock.offsetMs = 31_000;
    try {
      expect(await keys.authenticate(key)).toBeNull(); // cached entry, now expired
      await redis.client.del(redis.key('apikey', sha256(key)));
      expect(await keys.authenticate(key)).toBeNull(); // from the database
    } finally {
      clock.offsetMs = 0;
    }
    const { key: past } = await create(tenantA, { expiresAt: new Date(Date.now() - 1000) });
    expect(await keys.authenticate(past)).toBeNull();
  });

  it('records when a key was last used, at most once a minute', async () => {
    const { key, apiKey } = await create(tenantA);
    expect(await keys.authenticate(key)).not.toBeNull();
    let lastUsedAt: Date | null = null;
    for (let i = 0; i < 50 && lastUsedAt === null; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const listed = await asTenant(tenantA, () => keys.list());
      lastUsedAt = listed.find((k) => k.id === apiKey.id)?.lastUsedAt ?? null;
    }
    expect(lastUsedAt).toBeInstanceOf(Date);
    expect(Math.abs(lastUsedAt!.getTime() - Date.now())).toBeLessThan(10_000);
    // A second use within the minute writes nothing.
    await sql('admin', `UPDATE "ApiKey" SET "lastUsedAt" = '2000-01-01' WHERE id = $1`, [
      apiKey.id,
    ]);
    expect(await keys.authenticate(key)).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { rows } = await sql<{ lastUsedAt: Date }>(
      'admin',
      `SELECT "lastUsedAt" FROM "ApiKey" WHERE id = $1`,
      [apiKey.id],
    );
    expect(rows[0]!.lastUsedAt.getUTCFullYear()).toBe(2000);
  });

  it('lists the tenant’s keys, newest first', async () => {
    const tenant = await createTenantRow('Keys list');
    const first = await create(tenant, { name: 'first' });
    const second = await create(tenant, { name: 'second' });
    await create(tenantB, { name: 'elsewhere' });
    const listed = await asTenant(tenant, () => keys.list());
    expect(listed.map((k) => k.name)).toEqual(['second', 'first']);
    expect(listed.map((k) => k.id)).toEqual([second.apiKey.id, first.apiKey.id]);
  });

  it('revokes every live key a user created in the tenant', async () => {
    const tenant = await createTenantRow('Keys revokeCreatedBy');
    const [leaving, staying] = [randomUUID(), randomUUID()];
    const mine = [
      await create(tenant, { createdById: leaving }),
      await create(tenant, { createdById: leaving }),
    ];
    const theirs = await create(tenant, { createdById: staying });
    const elsewhere = await create(tenantB, { createdById: leaving });
    for (const k of [...mine, theirs, elsewhere])
      expect(await keys.authenticate(k.key)).not.toBeNull();

    expect(await asTenant(tenant, () => keys.revokeCreatedBy(leaving))).toBe(2);
    for (const k of mine) expect(await keys.authenticate(k.key)).toBeNull();
    expect(await keys.authenticate(theirs.key)).not.toBeNull();
    expect(await keys.authenticate(elsewhere.key)).not.toBeNull();
    expect(await asTenant(tenant, () => keys.revokeCreatedBy(leaving))).toBe(0);
    expect(await asTenant(tenant, () => keys.revokeCreatedBy('not-a-uuid'))).toBe(0);
  });

  it('answers DEPENDENCY_UNAVAILABLE when Redis is down, and then revokes nothing', async () => {
    const down = new RedisConnection(testConfig({ REDIS_URL: 'redis://127.0.0.1:1' }));
    try {
      const broken = new ApiKeyService(
        moduleRef.get(TenantDb, { strict: false }),
        platform,
        down,
        clock,
      );
      const { key, apiKey } = await create(tenantA);
      expect(await broken.authenticate('garbage')).toBeNull();
      await expect(broken.authenticate(key)).rejects.toMatchObject({
        code: ErrorCode.DependencyUnavailable,
      });
      // The cache cannot be cleared: the revocation is refused rather than half done.
      await expect(asTenant(tenantA, () => broken.revoke(apiKey.id))).rejects.toMatchObject({
        code: ErrorCode.DependencyUnavailable,
      });
      const { rows } = await sql('admin', `SELECT "revokedAt" FROM "ApiKey" WHERE id = $1`, [
        apiKey.id,
      ]);
      expect(rows[0]!.revokedAt).toBeNull();
      expect(await keys.authenticate(key)).not.toBeNull();
    } finally {
      down.client.disconnect();
    }
  });

  it('needs a tenant context to create, list and revoke', async () => {
    await expect(
      keys.create({ name: 'x', scopes: ['leads:read'], createdById: null }),
    ).rejects.toMatchObject({
      code: ErrorCode.TenantContextMissing,
    });
    await expect(keys.list()).rejects.toMatchObject({ code: ErrorCode.TenantContextMissing });
    await expect(keys.revoke(randomUUID())).rejects.toMatchObject({
      code: ErrorCode.TenantContextMissing,
    });
  });
});

describe('createApiKeyBody', () => {
  it('accepts a name, scopes and an optional future expiry', () => {
    const future = new Date(Date.now() + 86_400_000).toISOString();
    expect(createApiKeyBody.parse({ name: '  Zapier ', scopes: ['leads:read'] })).toEqual({
      name: 'Zapier',
      scopes: ['leads:read'],
    });
    expect(
      createApiKeyBody.parse({ name: 'a', scopes: ['audit:read'], expiresAt: future }).expiresAt,
    ).toEqual(new Date(future));
    expect(
      createApiKeyBody.parse({ name: 'a', scopes: ['audit:read'], expiresAt: null }).expiresAt,
    ).toBeNull();
  });

  it('refuses bad input', () => {
    const base = { name: 'Zapier', scopes: ['leads:read'] };
    for (const bad of [
      { ...base, name: '   ' },
      { ...base, name: 'x'.repeat(101) },
      { ...base, scopes: [] },
      { ...base, scopes: ['leads:read', 'leads:read'] },
      { ...base, scopes: ['members:manage'] },
      { ...base, expiresAt: new Date(Date.now() - 1000).toISOString() },
      { ...base, expiresAt: 'tomorrow' },
      { ...base, extra: true },
      { name: 'Zapier' },
    ]) {
      expect(createApiKeyBody.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
