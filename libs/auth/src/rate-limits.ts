import { createHash } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { DomainError, ErrorCode } from '@ibhq/core';
import { RedisConnection } from '@ibhq/redis';

export type RateLimitBucket =
  'login:account' | 'login:ip' | 'signup:ip' | 'invitation:ip' | 'telegram:ip' | 'mfa:account';

export interface RateLimit {
  readonly points: number;
  readonly durationSeconds: number;
}

const MINUTE = 60;

/** Brute-force limits: `points` attempts per fixed window of `durationSeconds`, per key. */
export const RATE_LIMITS: Readonly<Record<RateLimitBucket, RateLimit>> = {
  'login:account': { points: 10, durationSeconds: 15 * MINUTE },
  'login:ip': { points: 50, durationSeconds: 15 * MINUTE },
  'signup:ip': { points: 10, durationSeconds: 60 * MINUTE },
  'invitation:ip': { points: 20, durationSeconds: 60 * MINUTE },
  'telegram:ip': { points: 30, durationSeconds: 15 * MINUTE },
  'mfa:account': { points: 10, durationSeconds: 15 * MINUTE },
};

export type RateLimitOverrides = Partial<Record<RateLimitBucket, RateLimit>>;

/**
 * DI token of per-bucket replacements of {@link RATE_LIMITS}. AuthModule provides `{}`;
 * a test that wants small limits overrides it before compiling:
 * `Test.createTestingModule({ imports: [..., AuthModule] })
 *    .overrideProvider(RATE_LIMIT_OVERRIDES).useValue({ 'login:account': { points: 3, durationSeconds: 60 } })`
 * or builds `new RateLimits(redis, { ... })` directly.
 */
export const RATE_LIMIT_OVERRIDES = Symbol('RATE_LIMIT_OVERRIDES');

/** What the RateLimit-* response headers report for an API key. */
export interface RateLimitState {
  limit: number;
  remaining: number;
  resetSeconds: number;
}

/** A request count of an API key in its current minute. */
export interface ApiKeyCount {
  readonly consumed: number;
  readonly resetSeconds: number;
}

/** Above any configurable limit: the counter itself never refuses. */
const API_KEY_COUNT_CEILING = 1_000_000_000;

/**
 * The RateLimit-* state of a count under `limitPerMinute`; over the limit,
 * RATE_LIMITED with `retryAfterSeconds`, `limit`, `remaining: 0` and `resetSeconds`.
 */
export function apiKeyState(count: ApiKeyCount, limitPerMinute: number): RateLimitState {
  const { resetSeconds } = count;
  if (count.consumed > limitPerMinute) {
    throw new DomainError(
      ErrorCode.RateLimited,
      `Rate limit of ${limitPerMinute} requests per minute exceeded; try again in ${resetSeconds} seconds.`,
      { retryAfterSeconds: resetSeconds, limit: limitPerMinute, remaining: 0, resetSeconds },
    );
  }
  return { limit: limitPerMinute, remaining: limitPerMinute - count.consumed, resetSeconds };
}

const secondsUntil = (res: RateLimiterRes) => Math.max(1, Math.ceil(res.msBeforeNext / 1000));

/**
 * Rate limits kept in Redis (rate-limiter-flexible, fixed windows, one atomic Lua call
 * per attempt). Redis unreachable: DEPENDENCY_UNAVAILABLE (503), never "allowed" and
 * never a hang; there is deliberately no in-memory insurance limiter, which would let
 * each process allow the full limit on its own.
 */
@Injectable()
export class RateLimits {
  private readonly buckets: ReadonlyMap<RateLimitBucket, RateLimiterRedis>;
  /** One count per API key and minute; the limit is applied on read (apiKeyState). */
  private readonly apiKeyCounter: RateLimiterRedis;

  constructor(
    private readonly redis: RedisConnection,
    @Optional() @Inject(RATE_LIMIT_OVERRIDES) overrides: RateLimitOverrides | null = null,
  ) {
    const buckets = new Map<RateLimitBucket, RateLimiterRedis>();
    for (const bucket of Object.keys(RATE_LIMITS) as RateLimitBucket[]) {
      const limit = overrides?.[bucket] ?? RATE_LIMITS[bucket];
      buckets.set(bucket, this.limiter(this.redis.key('rl', bucket), limit));
    }
    this.buckets = buckets;
    this.apiKeyCounter = this.limiter(this.redis.key('rl', 'api-key'), {
      points: API_KEY_COUNT_CEILING,
      durationSeconds: MINUTE,
    });
  }

  /**
   * Counts one attempt of `bucket` for `key` (an e-mail, an IP...); over the limit,
   * RATE_LIMITED with `retryAfterSeconds`.
   */
  async consume(bucket: RateLimitBucket, key: string): Promise<void> {
    const res = await this.consumeOn(this.bucket(bucket), hashKey(key));
    if (res.over) {
      const retryAfterSeconds = secondsUntil(res.res);
      throw new DomainError(
        ErrorCode.RateLimited,
        `Too many attempts; try again in ${retryAfterSeconds} seconds.`,
        { retryAfterSeconds },
      );
    }
  }

  /** Forgets the attempts of `key` (a successful sign-in clears login:account of its e-mail). */
  async reset(bucket: RateLimitBucket, key: string): Promise<void> {
    const limiter = this.bucket(bucket);
    await this.redis.call(() => limiter.delete(hashKey(key)));
  }

  /**
   * Counts one request of an API key against `limitPerMinute` requests per fixed
   * minute; returns what the RateLimit-* headers report. Over the limit: RATE_LIMITED
   * with `retryAfterSeconds`, `limit`, `remaining: 0` and `resetSeconds`. One Redis
   * round trip.
   */
  async consumeApiKey(keyRef: string, limitPerMinute: number): Promise<RateLimitState> {
    return apiKeyState(await this.countApiKey(keyRef), limitPerMinute);
  }

  /**
   * Counts one request of an API key in the current minute, before its limit is known:
   * the guard starts it together with the key's lookup (`keyRef` is the key's hash),
   * so both leave in one Redis write. {@link apiKeyState} then applies the limit.
   */
  async countApiKey(keyRef: string): Promise<ApiKeyCount> {
    const { res } = await this.consumeOn(this.apiKeyCounter, keyRef);
    return { consumed: res.consumedPoints, resetSeconds: secondsUntil(res) };
  }

  private limiter(keyPrefix: string, limit: RateLimit): RateLimiterRedis {
    return new RateLimiterRedis({
      storeClient: this.redis.client,
      keyPrefix,
      points: limit.points,
      duration: limit.durationSeconds,
      // Its in-memory block would answer "over" without Redis for a while, and
      // outlive a reset(): keep every answer in Redis.
      inMemoryBlockOnConsumed: 0,
    });
  }

  private bucket(bucket: RateLimitBucket): RateLimiterRedis {
    const limiter = this.buckets.get(bucket);
    if (!limiter) throw new Error(`unknown rate limit bucket ${bucket}`);
    return limiter;
  }

  /**
   * rate-limiter-flexible rejects with a RateLimiterRes when over the limit and with
   * the store's error when Redis fails; the latter becomes DEPENDENCY_UNAVAILABLE
   * through RedisConnection.call.
   */
  private consumeOn(
    limiter: RateLimiterRedis,
    key: string,
  ): Promise<{ over: boolean; res: RateLimiterRes }> {
    return this.redis.call(() =>
      limiter.consume(key).then(
        (res) => ({ over: false, res }),
        (e: unknown) => {
          if (e instanceof RateLimiterRes) return { over: true, res: e };
          throw e;
        },
      ),
    );
  }
}

/**
 * Keys are e-mails and IPs: Redis sees only a hash of them (personal data stays out
 * of Redis and its monitoring). 128 bits of SHA-256 cannot collide by accident.
 */
function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}
