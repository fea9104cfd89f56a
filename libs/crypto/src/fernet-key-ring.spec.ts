import { describe, expect, it } from 'vitest';
import { Fernet, InvalidFernetTokenError, generateFernetKey } from './fernet.js';
import { FernetKeyRing } from './fernet-key-ring.js';

function timestampBytes(token: string): Buffer {
  return Buffer.from(token, 'base64url').subarray(1, 9);
}

describe('FernetKeyRing', () => {
  const newKey = generateFernetKey();
  const oldKey = generateFernetKey();
  const ring = new FernetKeyRing([newKey, oldKey]);

  it('encrypts with the first key only', () => {
    const token = ring.encrypt('payload');
    expect(new Fernet(newKey).decryptString(token)).toBe('payload');
    expect(() => new Fernet(oldKey).decrypt(token)).toThrow(InvalidFernetTokenError);
  });

  it('decrypts a token made under any key of the ring', () => {
    expect(ring.decryptString(new Fernet(oldKey).encrypt('old'))).toBe('old');
    expect(ring.decryptString(new Fernet(newKey).encrypt('new'))).toBe('new');
    expect(ring.decrypt(new Fernet(oldKey).encrypt(Uint8Array.of(1, 2)))).toEqual(Buffer.of(1, 2));
  });

  it('rejects a token made with a key outside the ring', () => {
    const token = new Fernet(generateFernetKey()).encrypt('stranger');
    expect(() => ring.decrypt(token)).toThrow(InvalidFernetTokenError);
    expect(() => ring.rotate(token)).toThrow(InvalidFernetTokenError);
    expect(ring.isCurrent(token)).toBe(false);
  });

  it('applies the TTL whichever key opens the token', () => {
    const t0 = 1_700_000_000_000;
    const token = new Fernet(oldKey).encrypt('ttl', { now: t0 });
    expect(ring.decryptString(token, { ttlSeconds: 10, now: t0 + 10_000 })).toBe('ttl');
    expect(() => ring.decrypt(token, { ttlSeconds: 10, now: t0 + 11_000 })).toThrow(
      InvalidFernetTokenError,
    );
  });

  it('rotates under the first key, keeping the original timestamp', () => {
    const t0 = 1_600_000_123_000;
    const old = new Fernet(oldKey).encrypt('rotate me', { now: t0 });
    expect(ring.isCurrent(old)).toBe(false);

    const rotated = ring.rotate(old);
    expect(rotated).not.toBe(old);
    expect(timestampBytes(rotated).equals(timestampBytes(old))).toBe(true);
    expect(timestampBytes(rotated).readBigUInt64BE(0)).toBe(1_600_000_123n);

    const onlyNew = new FernetKeyRing([newKey]);
    expect(onlyNew.decryptString(rotated)).toBe('rotate me');
    expect(() => onlyNew.decrypt(old)).toThrow(InvalidFernetTokenError);
    expect(ring.isCurrent(rotated)).toBe(true);
    // The TTL still counts from the original encryption.
    expect(() => onlyNew.decrypt(rotated, { ttlSeconds: 60, now: t0 + 61_000 })).toThrow(
      InvalidFernetTokenError,
    );
  });

  it('rotates a token that is already current to a fresh token of the same content', () => {
    const token = ring.encrypt('current', { now: 1_700_000_000_000 });
    expect(ring.isCurrent(token)).toBe(true);
    const again = ring.rotate(token);
    expect(again).not.toBe(token);
    expect(timestampBytes(again).equals(timestampBytes(token))).toBe(true);
    expect(ring.decryptString(again)).toBe('current');
  });

  it('rotate ignores the age of the token (no TTL)', () => {
    const ancient = new Fernet(oldKey).encrypt('ancient', { now: 0 });
    expect(ring.decryptString(ring.rotate(ancient))).toBe('ancient');
  });

  it('isCurrent is false for garbage and never throws for a bad token', () => {
    expect(ring.isCurrent('')).toBe(false);
    expect(ring.isCurrent('%%%')).toBe(false);
    expect(ring.isCurrent(ring.encrypt('x').slice(0, -4))).toBe(false);
  });

  it('needs at least one key and names a bad key by position, not by value', () => {
    expect(() => new FernetKeyRing([])).toThrow(/at least one key/);
    const bad = 'not-a-fernet-key-but-a-secret-looking-string';
    let error: unknown;
    try {
      new FernetKeyRing([newKey, bad]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe('Fernet key #2 of the key ring is invalid');
    expect(JSON.stringify(error) + String((error as Error).cause)).not.toContain(bad);
  });
});
