import { createHash, randomBytes, randomInt } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import {
  asTenantId,
  Clock,
  currentTenant,
  isUuid,
  NotFoundError,
  runWithTenant,
  type TenantId,
} from '@ibhq/core';
import { PlatformDb, Prisma, TenantDb, type ApiKey } from '@ibhq/db';
import { RedisConnection } from '@ibhq/redis';
import { API_KEY_SCOPES, type ApiKeyScope } from './permissions.js';

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
  createdById: string | null;
}

/** A request's API key once authenticated: it acts in its tenant with exactly its scopes. */
export interface AuthenticatedApiKey {
  id: string;
  tenantId: TenantId;
  scopes: ApiKeyScope[];
  name: string;
}

export const createApiKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(100),
  scopes: z
    .array(z.enum(API_KEY_SCOPES))
    .min(1)
    .max(API_KEY_SCOPES.length)
    .refine((s) => new Set(s).size === s.length, 'must not repeat a scope'),
  expiresAt: z.iso
    .datetime({ offset: true })
    .transform((s) => new Date(s))
    .refine((d) => d.getTime() > Date.now(), 'must be in the future')
    .nullable()
    .optional(),
});
export type CreateApiKeyBody = z.infer<typeof createApiKeyBody>;

const KEY_PREFIX = 'ibhq_k_';
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** `ibhq_k_` + 8 base62 (the visible prefix) + `_` + 32 random bytes in base64url. */
const KEY_FORMAT = /^ibhq_k_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}$/;

/** A valid key stays cached this long (or until it expires, if sooner). */
const CACHE_SECONDS = 60;
/** An unknown, revoked or expired key is remembered as such this long. */
const NEGATIVE_CACHE_SECONDS = 5;
const NEGATIVE = '-';

interface CachedKey extends AuthenticatedApiKey {
  expiresAt: string | null;
}

interface KeyRow {
  id: string;
  tenantId: string;
  name: string;
  scopes: string[] | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

const knownScopes = (scopes: readonly string[] | null): ApiKeyScope[] =>
  (scopes ?? []).filter((s): s is ApiKeyScope => (API_KEY_SCOPES as readonly string[]).includes(s));

const view = (k: ApiKey): ApiKeyView => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  scopes: knownScopes(k.scopes),
  expiresAt: k.expiresAt,
  revokedAt: k.revokedAt,
  lastUsedAt: k.lastUsedAt,
  createdAt: k.createdAt,
  createdById: k.createdById,
});

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * API keys of integrations. A key is shown once; the database keeps its SHA-256 (a
 * 256-bit random secret needs no slow hash) and a visible prefix to recognise it.
 * Authentication reads through a short Redis cache; revocation drops the cache entry
 * before it commits and marks the key revoked there after, so a revoked key stops
 * working at once.
 */
@Injectable()
export class ApiKeyService {
  private readonly logger = new Logger(ApiKeyService.name);
  /** Keys whose lastUsedAt this process wrote in the last minute. */
  private readonly usedRecently = new LRUCache<string, true>({ max: 100_000, ttl: 60_000 });

  constructor(
    private readonly db: TenantDb,
    private readonly platform: PlatformDb,
    private readonly redis: RedisConnection,
    private readonly clock: Clock,
  ) {}

  /** Creates a key in the current tenant; `key` is returned this once and never stored. */
  async create(input: {
    name: string;
    scopes: readonly ApiKeyScope[];
    expiresAt?: Date | null;
    createdById: string | null;
  }): Promise<{ key: string; apiKey: ApiKeyView }> {
    const { tenantId } = currentTenant('ApiKeyService.create');
    // base62 by hand: node:crypto has no such encoding; randomInt is unbiased.
    const visible = Array.from({ length: 8 }, () => BASE62.charAt(randomInt(BASE62.length))).join(
      '',
    );
    const prefix = KEY_PREFIX + visible;
    const key = `${prefix}_${randomBytes(32).toString('base64url')}`;
    const row = await this.db.apiKey.create({
      data: {
        tenantId,
        name: input.name,
        prefix,
        secretHash: hashApiKey(key),
        scopes: [...new Set(input.scopes)],
        expiresAt: input.expiresAt ?? null,
        createdById: input.createdById,
      },
    });
    return { key, apiKey: view(row) };
  }

  /** The current tenant's keys, newest first. */
  async list(): Promise<ApiKeyView[]> {
    const rows = await this.db.apiKey.findMany({
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    });
    return rows.map(view);
  }

  /** Revokes a key of the current tenant (again: no change); NOT_FOUND if it is not one. */
  async revoke(id: string): Promise<ApiKeyView> {
    const { tenantId } = currentTenant('ApiKeyService.revoke');
    if (!isUuid(id)) throw new NotFoundError('API key');
    const row = await this.db.transaction(async (tx) => {
      const found = await tx.apiKey.findUnique({ where: { tenantId_id: { tenantId, id } } });
      if (!found) throw new NotFoundError('API key');
      if (found.revokedAt !== null) return found;
      const revoked = await tx.apiKey.update({
        where: { tenantId_id: { tenantId, id } },
        data: { revokedAt: this.clock.now() },
      });
      // Before the commit: if Redis is down, the revocation fails (503) rather than
      // leaving a cached key working.
      await this.forget([revoked.secretHash]);
      return revoked;
    });
    await this.tombstone([row.secretHash]);
    return view(row);
  }

  /** Revokes every live key that `userId` created in the current tenant; returns how many. */
  async revokeCreatedBy(userId: string): Promise<number> {
    currentTenant('ApiKeyService.revokeCreatedBy');
    if (!isUuid(userId)) return 0;
    const rows = await this.db.transaction(async (tx) => {
      const revoked = await tx.apiKey.updateManyAndReturn({
        where: { createdById: userId, revokedAt: null },
        data: { revokedAt: this.clock.now() },
        select: { secretHash: true },
      });
      await this.forget(revoked.map((r) => r.secretHash));
      return revoked;
    });
    await this.tombstone(rows.map((r) => r.secretHash));
    return rows.length;
  }

  /**
   * The live key that `key` is, or null (malformed, unknown, revoked, expired). One
   * Redis round trip when cached; otherwise one indexed read by hash.
   */
  async authenticate(
    key: string,
    /** hashApiKey(key), when the caller computed it already (the guard counts by it). */
    hash = hashApiKey(key),
  ): Promise<AuthenticatedApiKey | null> {
    if (!KEY_FORMAT.test(key)) return null;
    const cacheKey = this.cacheKey(hash);
    const cached = await this.redis.call((redis) => redis.get(cacheKey));

    let found: CachedKey | null;
    if (cached === NEGATIVE) found = null;
    else if (cached !== null) found = JSON.parse(cached) as CachedKey;
    else found = await this.lookup(hash, cacheKey);

    if (!found) return null;
    // A cached entry never outlives the expiry, but check: it costs nothing.
    if (found.expiresAt !== null && Date.parse(found.expiresAt) <= this.clock.nowMs()) return null;
    const result: AuthenticatedApiKey = {
      id: found.id,
      tenantId: asTenantId(found.tenantId),
      scopes: found.scopes,
      name: found.name,
    };
    // lastUsedAt to the minute: at most one write a minute per key and process.
    if (!this.usedRecently.has(result.id)) {
      this.usedRecently.set(result.id, true);
      this.recordUse(result);
    }
    return result;
  }

  private async lookup(hash: string, cacheKey: string): Promise<CachedKey | null> {
    const [row] = await this.platform.lookup<KeyRow>(
      'app.api_key_hash',
      hash,
      Prisma.sql`SELECT "id", "tenantId", "name", "scopes", "expiresAt", "revokedAt"
                   FROM "ApiKey" WHERE "secretHash" = ${hash}`,
    );
    const now = this.clock.nowMs();
    const live =
      row !== undefined &&
      row.revokedAt === null &&
      (row.expiresAt === null || row.expiresAt.getTime() > now);
    if (!live) {
      await this.redis.call((redis) =>
        redis.set(cacheKey, NEGATIVE, 'EX', NEGATIVE_CACHE_SECONDS, 'NX'),
      );
      return null;
    }
    const entry: CachedKey = {
      id: row.id,
      tenantId: asTenantId(row.tenantId),
      scopes: knownScopes(row.scopes),
      name: row.name,
      expiresAt: row.expiresAt?.toISOString() ?? null,
    };
    const ttl =
      row.expiresAt === null
        ? CACHE_SECONDS
        : Math.max(1, Math.min(CACHE_SECONDS, Math.floor((row.expiresAt.getTime() - now) / 1000)));
    // NX: a revocation's tombstone written meanwhile wins (see tombstone()).
    await this.redis.call((redis) => redis.set(cacheKey, JSON.stringify(entry), 'EX', ttl, 'NX'));
    return entry;
  }

  /** Writes lastUsedAt in the key's tenant; the caller does not wait, a failure is logged. */
  private recordUse(key: AuthenticatedApiKey): void {
    const usedAt = this.clock.now();
    runWithTenant({ tenantId: key.tenantId, actor: { type: 'api_key', id: key.id } }, () =>
      this.db.apiKey.updateMany({ where: { id: key.id }, data: { lastUsedAt: usedAt } }),
    ).catch((e: unknown) => {
      this.logger.warn({ err: e, apiKeyId: key.id }, 'could not record the use of an API key');
    });
  }

  /** Drops cache entries, inside the revoking transaction: Redis down fails the revocation. */
  private async forget(hashes: readonly string[]): Promise<void> {
    if (hashes.length === 0) return;
    await this.redis.call((redis) => redis.del(...hashes.map((h) => this.cacheKey(h))));
  }

  /**
   * After the commit, marks the keys revoked in the cache for as long as a positive
   * entry lives: an authenticate() that read the row just before the commit caches
   * only with NX, so it cannot bring the key back. Best effort: the revocation is
   * committed, and the entry was already dropped by forget().
   */
  private async tombstone(hashes: readonly string[]): Promise<void> {
    if (hashes.length === 0) return;
    await this.redis
      .call((redis) => {
        const pipeline = redis.pipeline();
        for (const h of hashes) pipeline.set(this.cacheKey(h), NEGATIVE, 'EX', CACHE_SECONDS);
        return pipeline.exec();
      })
      .catch((e: unknown) => {
        this.logger.warn({ err: e }, 'could not mark revoked API keys in the cache');
      });
  }

  private cacheKey(hash: string): string {
    // secretHash is char(64): no padding in practice, trimmed to be sure.
    return this.redis.key('apikey', hash.trim());
  }
}
