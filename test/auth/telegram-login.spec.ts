import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DomainError, ErrorCode, ValidationError } from '@ibhq/core';
import { signTelegramLogin, TelegramLoginVerifier, telegramLoginBody } from '@ibhq/auth';
import { testConfig } from '../support/db.js';
import { FixedClock } from '../support/clock.js';

const BOT_TOKEN = '123456789:AAEhBP0av28ZZCDHkYaSv0j5Gr7nnQVDJFA';
const MAX_AGE = 3600;

/**
 * Computed once with an independent implementation (Python's hmac and hashlib):
 *   secret = hashlib.sha256(BOT_TOKEN.encode()).digest()
 *   dcs = '\n'.join(f'{k}={v}' for k, v in sorted(VECTOR.items()))
 *   hmac.new(secret, dcs.encode(), hashlib.sha256).hexdigest()
 */
const VECTOR = {
  id: '987654321',
  first_name: 'Ada',
  last_name: 'Lovelace',
  username: 'ada_l',
  photo_url: 'https://t.me/i/userpic/320/ada.jpg',
  auth_date: '1790000000',
};
const VECTOR_HASH = '271cda8dd3c10a8e8517d93ce63fe0474896eb3dba25a768ee1dd01978db63af';

const nowSeconds = 1_795_000_000;
const clock = new FixedClock(nowSeconds * 1000);
const verifier = new TelegramLoginVerifier(
  testConfig({ TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_LOGIN_MAX_AGE_SECONDS: String(MAX_AGE) }),
  clock,
);

function signed(fields: Record<string, string | number>): Record<string, string | number> {
  return { ...fields, hash: signTelegramLogin(BOT_TOKEN, fields) };
}

function failure(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DomainError);
    expect((e as Error).message).not.toContain(BOT_TOKEN);
    expect(JSON.stringify((e as DomainError).details ?? {})).not.toContain(BOT_TOKEN);
    return e as DomainError;
  }
  throw new Error('the authorisation was accepted');
}

const fresh = { id: 42, first_name: 'Ada', username: 'ada_l', auth_date: nowSeconds - 10 };

describe('signTelegramLogin', () => {
  it('matches the hand-computed vector', () => {
    expect(signTelegramLogin(BOT_TOKEN, VECTOR)).toBe(VECTOR_HASH);
    // The hash field itself is not part of what is signed.
    expect(signTelegramLogin(BOT_TOKEN, { ...VECTOR, hash: 'anything' })).toBe(VECTOR_HASH);
    expect(signTelegramLogin(`${BOT_TOKEN}x`, VECTOR)).not.toBe(VECTOR_HASH);
  });
});

describe('TelegramLoginVerifier', () => {
  it('accepts the hand-computed vector and returns the identity', () => {
    const at = new TelegramLoginVerifier(
      testConfig({ TELEGRAM_BOT_TOKEN: BOT_TOKEN }),
      new FixedClock((1_790_000_000 + 10) * 1000),
    );
    expect(at.verify({ ...VECTOR, hash: VECTOR_HASH })).toEqual({
      telegramUserId: 987654321n,
      username: 'ada_l',
      firstName: 'Ada',
      lastName: 'Lovelace',
      authDate: new Date(1_790_000_000 * 1000),
    });
    // Upper-case hex is the same hash.
    expect(at.verify({ ...VECTOR, hash: VECTOR_HASH.toUpperCase() }).telegramUserId).toBe(
      987654321n,
    );
  });

  it('accepts fields signed by signTelegramLogin, as numbers or as strings', () => {
    expect(verifier.enabled).toBe(true);
    const identity = verifier.verify(signed(fresh));
    expect(identity).toEqual({
      telegramUserId: 42n,
      username: 'ada_l',
      firstName: 'Ada',
      lastName: null,
      authDate: new Date((nowSeconds - 10) * 1000),
    });
    const asStrings = { id: '42', auth_date: String(nowSeconds - 10) };
    expect(verifier.verify(signed(asStrings)).telegramUserId).toBe(42n);
    // The largest id JSON carries exactly.
    const big = { id: String(Number.MAX_SAFE_INTEGER), auth_date: nowSeconds };
    expect(verifier.verify(signed(big)).telegramUserId).toBe(BigInt(Number.MAX_SAFE_INTEGER));
  });

  it('refuses a forged hash, a changed field and an added field', () => {
    const good = signed(fresh);
    const hash = String(good.hash);
    const flipped = (hash[0] === 'a' ? 'b' : 'a') + hash.slice(1);
    for (const forged of [
      { ...good, hash: flipped },
      { ...good, username: 'eve_x' },
      { ...good, id: 43 },
      { ...good, auth_date: nowSeconds },
      { ...good, last_name: 'Byron' },
    ]) {
      const e = failure(() => verifier.verify(forged));
      expect(e.code).toBe(ErrorCode.Unauthenticated);
      expect(e.message).toBe('the Telegram authorisation is not valid');
    }
    // Signed with another bot's token.
    const other = {
      ...fresh,
      hash: signTelegramLogin('987654321:BBEhBP0av28ZZCDHkYaSv0j5Gr7nnQVDJFA', fresh),
    };
    expect(failure(() => verifier.verify(other)).code).toBe(ErrorCode.Unauthenticated);
  });

  it('refuses an authorisation older than the limit, and one from the future', () => {
    expect(verifier.verify(signed({ ...fresh, auth_date: nowSeconds - MAX_AGE })).username).toBe(
      'ada_l',
    );
    const old = failure(() =>
      verifier.verify(signed({ ...fresh, auth_date: nowSeconds - MAX_AGE - 1 })),
    );
    expect(old.code).toBe(ErrorCode.Unauthenticated);
    expect(old.message).toBe('the Telegram authorisation has expired; sign in with Telegram again');
    // A little clock skew is tolerated, two minutes is not.
    expect(verifier.verify(signed({ ...fresh, auth_date: nowSeconds + 30 })).username).toBe(
      'ada_l',
    );
    const future = failure(() =>
      verifier.verify(signed({ ...fresh, auth_date: nowSeconds + 120 })),
    );
    expect(future.code).toBe(ErrorCode.Unauthenticated);
    expect(future.message).toMatch(/future/);
  });

  it('answers NOT_FOUND when no bot token is configured', () => {
    const off = new TelegramLoginVerifier(testConfig({ TELEGRAM_BOT_TOKEN: '' }), clock);
    expect(off.enabled).toBe(false);
    const e = failure(() => off.verify(signed(fresh)));
    expect(e.code).toBe(ErrorCode.NotFound);
    expect(e.message).toBe('Telegram sign-in is not enabled on this deployment');
  });

  it('refuses malformed fields with VALIDATION_FAILED naming them', () => {
    const field = (fields: Record<string, unknown>) => {
      const e = failure(() => verifier.verify(fields as Record<string, string | number>));
      expect(e).toBeInstanceOf(ValidationError);
      return (e as ValidationError).fields.map((f) => f.field);
    };
    expect(field({ ...fresh })).toEqual(['hash']);
    expect(field({ ...fresh, hash: 'abc' })).toEqual(['hash']);
    expect(field({ ...signed(fresh), photo: { url: 'x' } })).toEqual(['photo']);
    // Correctly signed but not a valid identity (as a malicious bot owner could send).
    expect(field(signed({ ...fresh, id: -5 }))).toEqual(['id']);
    expect(field(signed({ ...fresh, username: 'a b' }))).toEqual(['username']);
    expect(field(signed({ ...fresh, photo_url: 'http://t.me/a.jpg' }))).toEqual(['photo_url']);
  });

  it('never shows the bot token when inspected or serialised', () => {
    expect(inspect(verifier, { depth: 5 })).not.toContain(BOT_TOKEN);
    expect(JSON.stringify(verifier)).not.toContain(BOT_TOKEN);
  });
});

describe('telegramLoginBody', () => {
  it('parses the widget data, converting the id to a bigint', () => {
    const body = telegramLoginBody.parse({ ...VECTOR, hash: VECTOR_HASH });
    expect(body.id).toBe(987654321n);
    expect(body.auth_date).toBe(1_790_000_000);
    expect(telegramLoginBody.parse({ id: 7, auth_date: 1, hash: VECTOR_HASH }).id).toBe(7n);
  });

  it('refuses unknown fields and bad values', () => {
    const base = { id: 7, auth_date: 1, hash: VECTOR_HASH };
    for (const bad of [
      { ...base, extra: 'x' },
      { ...base, id: 0 },
      { ...base, id: 1.5 },
      { ...base, id: '12abc' },
      { ...base, id: String(2 ** 60) },
      { ...base, username: 'abcd' },
      { ...base, username: 'a'.repeat(33) },
      { ...base, photo_url: 'javascript:alert(1)' },
      { ...base, auth_date: -1 },
      { ...base, hash: VECTOR_HASH.slice(1) },
      { id: 7, auth_date: 1 },
    ]) {
      expect(telegramLoginBody.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
