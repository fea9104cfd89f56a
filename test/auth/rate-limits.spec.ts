import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError, ErrorCode } from '@ibhq/core';
import { RedisConnection } from '@ibhq/redis';
import { RATE_LIMITS, RateLimits } from '@ibhq/auth';
import { testConfig } from '../support/db.js';

const redis = new RedisConnection(testConfig());
const limits = new RateLimits(redis, {
  'login:account': { points: 3, durationSeconds: 60 },
  'signup:ip': { points: 3, durationSeconds: 60 },
});

beforeAll(async () => {
  if (redis.client.status !== 'ready') await once(redis.client, 'ready');
});

afterAll(async () => {
  await redis.onApplicationShutdown();
});

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  const e: unknown = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DomainError);
  return e as DomainError;
}

describe('RateLimits', () => {
  it('has the documented default limits', () => {
    expect(RATE_LIMITS).toEqual({
      'login:account': { points: 10, durationSeconds: 900 },
      'login:ip': { points: 50, durationSeconds: 900 },
      'signup:ip': { points: 10, durationSeconds: 3600 },
      'invitation:ip': { points: 20, durationSeconds: 3600 },
      'telegram:ip': { points: 30, durationSeconds: 900 },
      'mfa:account': { points: 10, durationSeconds: 900 },
    });
  });

  it('allows the limit, then answers RATE_LIMITED with a retry delay', async () => {
    const email = `${randomUUID()}@example.com`;
    for (let i = 0; i < 3; i++) await limits.consume('login:account', email);
    const e = await rejection(limits.consume('login:account', email));
    expect(e.code).toBe(ErrorCode.RateLimited);
    const retry = e.details?.retryAfterSeconds as number;
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(e.message).toBe(`Too many attempts; try again in ${retry} seconds.`);
    // Still refused: further attempts do not slip through.
    expect((await rejection(limits.consume('login:account', email))).code).toBe(
      ErrorCode.RateLimited,
    );
  });

  it('keeps keys and buckets apart, and keeps the e-mail itself out of Redis', async () => {
    const email = `${randomUUID()}@example.com`;
    for (let i = 0; i < 3; i++) await limits.consume('login:account', email);
    await expect(limits.consume('login:account', email)).rejects.toThrow(DomainError);
    await limits.consume('login:account', `${randomUUID()}@example.com`);
    await limits.consume('signup:ip', email);
    // A bucket without an override keeps its default (50 for login:ip).
    const ip = `10.${Math.floor(Math.random() * 255)}.0.1`;
    for (let i = 0; i < 10; i++) await limits.consume('login:ip', ip);
    await expect(limits.consume('login:ip', ip)).resolves.toBeUndefined();
    const keys = await redis.client.keys(`${redis.key('rl')}:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.join(' ')).not.toContain(email);
    expect(keys.join(' ')).not.toContain(ip);
  });

  it('reset clears a key', async () => {
    const email = `${randomUUID()}@example.com`;
    for (let i = 0; i < 3; i++) await limits.consume('login:account', email);
    await expect(limits.consume('login:account', email)).rejects.toThrow(DomainError);
    await limits.reset('login:account', email);
    for (let i = 0; i < 3; i++) await limits.consume('login:account', email);
    await expect(limits.consume('login:account', email)).rejects.toThrow(DomainError);
  });

  it('counts API key requests down and refuses the one over the limit, with the details', async () => {
    const keyId = randomUUID();
    const states = [];
    for (let i = 0; i < 3; i++) states.push(await limits.consumeApiKey(keyId, 3));
    expect(states.map((s) => s.remaining)).toEqual([2, 1, 0]);
    for (const s of states) {
      expect(s.limit).toBe(3);
      expect(s.resetSeconds).toBeGreaterThanOrEqual(1);
      expect(s.resetSeconds).toBeLessThanOrEqual(60);
    }
    const e = await rejection(limits.consumeApiKey(keyId, 3));
    expect(e.code).toBe(ErrorCode.RateLimited);
    expect(e.details).toMatchObject({ limit: 3, remaining: 0 });
    expect(e.details?.retryAfterSeconds).toBe(e.details?.resetSeconds);
    expect(e.details?.resetSeconds).toBeGreaterThanOrEqual(1);
    expect(e.details?.resetSeconds).toBeLessThanOrEqual(60);
    // Another key has its own count; a higher limit counts on from the same window.
    expect((await limits.consumeApiKey(randomUUID(), 3)).remaining).toBe(2);
    expect((await limits.consumeApiKey(keyId, 10)).remaining).toBe(10 - 5);
  });

  it('answers DEPENDENCY_UNAVAILABLE when Redis is down, never "allowed"', async () => {
    const down = new RedisConnection(testConfig({ REDIS_URL: 'redis://127.0.0.1:1' }));
    try {
      const broken = new RateLimits(down);
      for (const attempt of [
        () => broken.consume('login:account', 'ada@example.com'),
        () => broken.reset('login:account', 'ada@example.com'),
        () => broken.consumeApiKey(randomUUID(), 100),
      ]) {
        const e = await rejection(attempt());
        expect(e.code).toBe(ErrorCode.DependencyUnavailable);
      }
      // Also once the client knows the connection is lost.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await rejection(broken.consume('login:ip', '10.0.0.1'))).code).toBe(
        ErrorCode.DependencyUnavailable,
      );
    } finally {
      down.client.disconnect();
    }
  });
});
