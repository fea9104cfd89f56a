import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Secret, TOTP, URI } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fernet, FernetKeyRing } from '@ibhq/crypto';
import { RedisConnection } from '@ibhq/redis';
import { TotpService } from '@ibhq/auth';
import { testConfig } from '../support/db.js';
import { FixedClock } from '../support/clock.js';

const config = testConfig();
const keys = new FernetKeyRing(config.crypto.fernetKeys);
const redis = new RedisConnection(config);
// The middle of a 30 s step, so that ±1 step is exactly one step away.
const NOW = Math.floor(Date.now() / 30_000) * 30_000 + 15_000;
const clock = new FixedClock(NOW);
const totp = new TotpService(keys, redis, clock);

const codeAt = (secret: string, offsetSteps: number) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: NOW + offsetSteps * 30_000 });

beforeAll(async () => {
  // The client fails commands fast until it is connected (no offline queue).
  if (redis.client.status !== 'ready') await once(redis.client, 'ready');
});

afterAll(async () => {
  await redis.onApplicationShutdown();
});

describe('TotpService', () => {
  it('generates a 160-bit secret, stored as a Fernet token, and an otpauth URL for IBHQ', () => {
    const { secret, encryptedSecret, otpauthUrl } = totp.generate('ada@example.com');
    expect(Secret.fromBase32(secret).bytes).toHaveLength(20);
    expect(encryptedSecret).not.toContain(secret);
    expect(new Fernet(config.crypto.fernetKeys[0]!).decryptString(encryptedSecret)).toBe(secret);
    const parsed = URI.parse(otpauthUrl);
    expect(parsed).toBeInstanceOf(TOTP);
    expect(parsed.issuer).toBe('IBHQ');
    expect(parsed.label).toBe('ada@example.com');
    expect(parsed.secret.base32).toBe(secret);
    expect((parsed as TOTP).period).toBe(30);
    expect(parsed.digits).toBe(6);
    expect(parsed.algorithm).toBe('SHA1');
    expect(totp.generate('ada@example.com').secret).not.toBe(secret);
  });

  it('accepts the current code and those of the previous and next steps, not two steps off', async () => {
    const { secret, encryptedSecret } = totp.generate('ada@example.com');
    const user = randomUUID();
    expect(await totp.verify(user, encryptedSecret, codeAt(secret, 0))).toBe(true);
    expect(await totp.verify(user, encryptedSecret, codeAt(secret, -1))).toBe(true);
    expect(await totp.verify(user, encryptedSecret, codeAt(secret, 1))).toBe(true);
    expect(await totp.verify(user, encryptedSecret, codeAt(secret, -2))).toBe(false);
    expect(await totp.verify(user, encryptedSecret, codeAt(secret, 2))).toBe(false);
  });

  it('accepts a code once per user (no replay), and ignores spaces in it', async () => {
    const { secret, encryptedSecret } = totp.generate('ada@example.com');
    const code = codeAt(secret, 0);
    const [ada, bob] = [randomUUID(), randomUUID()];
    expect(await totp.verify(ada, encryptedSecret, `${code.slice(0, 3)} ${code.slice(3)}`)).toBe(
      true,
    );
    expect(await totp.verify(ada, encryptedSecret, code)).toBe(false);
    // The guard is per user: it holds the code (not the secret) for 90 s.
    expect(await totp.verify(bob, encryptedSecret, code)).toBe(true);
    const ttl = await redis.client.ttl(redis.key('totp-used', ada, code));
    expect(ttl).toBeGreaterThan(80);
    expect(ttl).toBeLessThanOrEqual(90);
  });

  it("refuses another secret's code and malformed codes", async () => {
    const mine = totp.generate('ada@example.com');
    const other = totp.generate('bob@example.com');
    const user = randomUUID();
    const theirs = codeAt(other.secret, 0);
    if (theirs !== codeAt(mine.secret, 0)) {
      expect(await totp.verify(user, mine.encryptedSecret, theirs)).toBe(false);
    }
    const code = codeAt(mine.secret, 0);
    for (const bad of ['', '12345', '1234567', 'abcdef', `${code}0`, `${code.slice(0, 5)}x`]) {
      expect(await totp.verify(user, mine.encryptedSecret, bad), bad).toBe(false);
    }
    // The malformed attempts did not use the code up.
    expect(await totp.verify(user, mine.encryptedSecret, code)).toBe(true);
  });

  it('answers DEPENDENCY_UNAVAILABLE when Redis is down, rather than accepting a replay', async () => {
    const down = new RedisConnection(testConfig({ REDIS_URL: 'redis://127.0.0.1:1' }));
    try {
      const service = new TotpService(keys, down, clock);
      const { secret, encryptedSecret } = service.generate('ada@example.com');
      await expect(
        service.verify(randomUUID(), encryptedSecret, codeAt(secret, 0)),
      ).rejects.toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    } finally {
      down.client.disconnect();
    }
  });
});
