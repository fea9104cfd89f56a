import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Fernet, InvalidFernetTokenError, generateFernetKey } from './fernet.js';

/** <repo>/../shared/vectors/fernet (/work/shared/vectors/fernet for /work/main). */
const VECTORS_DIR = path.resolve(import.meta.dirname, '../../../../shared/vectors/fernet');

interface GenerateVector {
  token: string;
  now: string;
  iv: number[];
  src: string;
  secret: string;
}
interface VerifyVector {
  token: string;
  now: string;
  ttl_sec: number;
  src: string;
  secret: string;
}
interface InvalidVector {
  desc: string;
  token: string;
  now: string;
  ttl_sec: number;
  secret: string;
}

function load<T>(name: string): T[] {
  return JSON.parse(readFileSync(path.join(VECTORS_DIR, name), 'utf8')) as T[];
}

function time(iso: string): number {
  const ms = Date.parse(iso);
  expect(Number.isFinite(ms), `unparseable time ${iso}`).toBe(true);
  return ms;
}

function rawToken(token: string): Buffer {
  return Buffer.from(token, 'base64url');
}

function encodeToken(bytes: Buffer): string {
  const body = bytes.toString('base64url');
  return body + '='.repeat((4 - (body.length % 4)) % 4);
}

/** A token with arbitrary fields and a correct MAC: checks that need more than the MAC. */
function forge(
  key: string,
  fields: { version?: number; timestamp?: bigint; ciphertext: Buffer; iv?: Buffer },
): string {
  const raw = Buffer.from(key, 'base64url');
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(fields.timestamp ?? BigInt(Math.floor(Date.now() / 1000)));
  const signed = Buffer.concat([
    Buffer.of(fields.version ?? 0x80),
    ts,
    fields.iv ?? Buffer.alloc(16),
    fields.ciphertext,
  ]);
  const mac = createHmac('sha256', raw.subarray(0, 16)).update(signed).digest();
  return encodeToken(Buffer.concat([signed, mac]));
}

function aesNoPadding(key: string, iv: Buffer, blocks: Buffer): Buffer {
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(key, 'base64url').subarray(16), iv);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(blocks), cipher.final()]);
}

describe('Fernet official vectors', () => {
  const generate = load<GenerateVector>('generate.json');
  const verify = load<VerifyVector>('verify.json');
  const invalid = load<InvalidVector>('invalid.json');

  it('resolves the shared vectors directory and holds every case', () => {
    // A sibling of the repository (here /work/shared next to /work/main), not a copy.
    const repoRoot = path.resolve(import.meta.dirname, '../../..');
    expect(path.relative(repoRoot, VECTORS_DIR)).toBe(
      path.join('..', 'shared', 'vectors', 'fernet'),
    );
    expect(readFileSync(path.join(VECTORS_DIR, 'README.md'), 'utf8')).toMatch(/official vectors/);
    expect(generate).toHaveLength(1);
    expect(verify).toHaveLength(1);
    expect(invalid).toHaveLength(8);
  });

  it.each(generate)('generate: encrypting $src gives the vector token', (v) => {
    const token = new Fernet(v.secret).encrypt(v.src, {
      now: time(v.now),
      iv: Uint8Array.from(v.iv),
    });
    expect(token).toBe(v.token);
  });

  it.each(verify)('verify: decrypting the vector token gives $src', (v) => {
    const fernet = new Fernet(v.secret);
    expect(fernet.decryptString(v.token, { now: time(v.now), ttlSeconds: v.ttl_sec })).toBe(v.src);
    expect(fernet.decrypt(v.token, { now: new Date(v.now), ttlSeconds: v.ttl_sec })).toEqual(
      Buffer.from(v.src, 'utf8'),
    );
  });

  it.each(invalid)('invalid: rejects "$desc"', (v) => {
    const fernet = new Fernet(v.secret);
    expect(() => fernet.decrypt(v.token, { now: time(v.now), ttlSeconds: v.ttl_sec })).toThrow(
      InvalidFernetTokenError,
    );
  });
});

describe('Fernet', () => {
  const key = generateFernetKey();
  const fernet = new Fernet(key);

  it('generates 32-byte URL-safe keys with padding, different every time', () => {
    const a = generateFernetKey();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}=$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(generateFernetKey()).not.toBe(a);
  });

  it.each([
    ['empty', ''],
    ['unicode', 'Grüße, 世界 🚀 \u0000 \ufeffBOM kept'],
  ])('round-trips a %s string', (_name, text) => {
    const token = fernet.encrypt(text);
    expect(token).toMatch(/^[A-Za-z0-9_-]+=*$/);
    expect(fernet.decryptString(token)).toBe(text);
  });

  it('round-trips 1 MB of binary data', () => {
    const data = randomBytes(1024 * 1024);
    const token = fernet.encrypt(data);
    expect(fernet.decrypt(token).equals(data)).toBe(true);
  });

  it('encrypts a Uint8Array view by its own bytes only', () => {
    const backing = Uint8Array.from([9, 9, 1, 2, 3, 9]);
    expect([...fernet.decrypt(fernet.encrypt(backing.subarray(2, 5)))]).toEqual([1, 2, 3]);
  });

  it('uses a fresh IV for every token', () => {
    const a = rawToken(fernet.encrypt('same'));
    const b = rawToken(fernet.encrypt('same'));
    expect(a.subarray(9, 25).equals(b.subarray(9, 25))).toBe(false);
  });

  it('records the time of encryption as big-endian seconds', () => {
    const token = fernet.encrypt('x', { now: 1_700_000_000_999 });
    expect(rawToken(token)[0]).toBe(0x80);
    expect(rawToken(token).readBigUInt64BE(1)).toBe(1_700_000_000n);
  });

  it('rejects a token with any single decoded byte changed', () => {
    const token = fernet.encrypt('hello');
    const bytes = rawToken(token);
    expect(bytes).toHaveLength(73); // 1 + 8 + 16 + one block + 32
    for (let i = 0; i < bytes.length; i++) {
      const tampered = Buffer.from(bytes);
      tampered[i] = (tampered[i] ?? 0) ^ 0x01;
      expect(() => fernet.decrypt(encodeToken(tampered)), `byte ${i}`).toThrow(
        InvalidFernetTokenError,
      );
    }
  });

  it('rejects a token with any single character changed (no alternative encodings)', () => {
    const token = fernet.encrypt('hello');
    for (let i = 0; i < token.length; i++) {
      const replacement = token[i] === 'A' ? 'B' : 'A';
      const tampered = token.slice(0, i) + replacement + token.slice(i + 1);
      expect(() => fernet.decrypt(tampered), `char ${i}`).toThrow(InvalidFernetTokenError);
    }
  });

  it('rejects non-canonical base64: missing padding, standard alphabet, whitespace', () => {
    const token = fernet.encrypt('hello');
    expect(fernet.decryptString(token)).toBe('hello');
    for (const variant of [
      token.replace(/=+$/, ''),
      token.replace(/-/g, '+').replace(/_/g, '/'),
      `${token}\n`,
      ` ${token}`,
      `${token}====`,
      '',
    ]) {
      if (variant === token) continue;
      expect(() => fernet.decrypt(variant)).toThrow(InvalidFernetTokenError);
    }
  });

  it('rejects a token whose unused trailing bits are set (same bytes, other text)', () => {
    const token = fernet.encrypt('hello'); // 73 bytes: ends in two characters and "=="
    expect(token).toMatch(/[A-Za-z0-9_-]{2}==$/);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(token.at(-3)!);
    // The last character carries 2 bits of data and 4 bits that must be zero.
    const variant = `${token.slice(0, -3)}${alphabet[last | 0b1111]!}==`;
    expect(variant).not.toBe(token);
    expect(rawToken(variant).equals(rawToken(token))).toBe(true); // Node's lenient decoder
    expect(() => fernet.decrypt(variant)).toThrow(InvalidFernetTokenError);
  });

  it('rejects a token made with another key', () => {
    const token = new Fernet(generateFernetKey()).encrypt('secret');
    expect(() => fernet.decrypt(token)).toThrow(InvalidFernetTokenError);
  });

  it('rejects a version other than 0x80 even with a valid MAC', () => {
    const iv = randomBytes(16);
    const ciphertext = aesNoPadding(key, iv, Buffer.alloc(16, 16));
    expect(fernet.decrypt(forge(key, { iv, ciphertext }))).toHaveLength(0);
    expect(() => fernet.decrypt(forge(key, { version: 0x81, iv, ciphertext }))).toThrow(
      InvalidFernetTokenError,
    );
  });

  it('checks every PKCS7 padding byte, even under a valid MAC', () => {
    const iv = randomBytes(16);
    const good = Buffer.concat([Buffer.from('abc'), Buffer.alloc(13, 13)]);
    expect(fernet.decryptString(forge(key, { iv, ciphertext: aesNoPadding(key, iv, good) }))).toBe(
      'abc',
    );
    for (const bad of [
      Buffer.concat([Buffer.from('abc'), Buffer.alloc(12, 13), Buffer.of(12)]), // wrong length
      Buffer.concat([Buffer.from('abc'), Buffer.alloc(1, 7), Buffer.alloc(12, 13)]), // a wrong byte
      Buffer.alloc(16, 0), // zero
      Buffer.alloc(16, 17), // more than a block
    ]) {
      const token = forge(key, { iv, ciphertext: aesNoPadding(key, iv, bad) });
      expect(() => fernet.decrypt(token)).toThrow(InvalidFernetTokenError);
    }
  });

  it('rejects a ciphertext that is not whole blocks, even under a valid MAC', () => {
    expect(() => fernet.decrypt(forge(key, { ciphertext: randomBytes(20) }))).toThrow(
      InvalidFernetTokenError,
    );
    expect(() => fernet.decrypt(forge(key, { ciphertext: Buffer.alloc(0) }))).toThrow(
      InvalidFernetTokenError,
    );
  });

  it('accepts a token up to its TTL and rejects it one second later', () => {
    const t0 = 1_700_000_000_000;
    const token = fernet.encrypt('ttl', { now: t0 });
    expect(fernet.decryptString(token, { ttlSeconds: 60, now: t0 + 60_000 })).toBe('ttl');
    expect(() => fernet.decrypt(token, { ttlSeconds: 60, now: t0 + 61_000 })).toThrow(
      InvalidFernetTokenError,
    );
    // Without a TTL, age does not matter.
    expect(fernet.decryptString(token, { now: t0 + 10 * 365 * 86_400_000 })).toBe('ttl');
  });

  it('with a TTL, rejects a timestamp more than 60 s in the future', () => {
    const now = 1_700_000_000_000;
    const token60 = fernet.encrypt('skew', { now: now + 60_000 });
    const token61 = fernet.encrypt('skew', { now: now + 61_000 });
    expect(fernet.decryptString(token60, { ttlSeconds: 3600, now })).toBe('skew');
    expect(() => fernet.decrypt(token61, { ttlSeconds: 3600, now })).toThrow(
      InvalidFernetTokenError,
    );
    // Like Python `cryptography`, no time check at all without a TTL.
    expect(fernet.decryptString(token61, { now })).toBe('skew');
  });

  it('gives the same error, without token or key, for every failure', () => {
    const token = fernet.encrypt('hello');
    const messages = new Set<string>();
    for (const bad of ['%%%', token.slice(0, 40), new Fernet(generateFernetKey()).encrypt('x')]) {
      try {
        fernet.decrypt(bad);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidFernetTokenError);
        expect(err).toBeInstanceOf(Error);
        const message = (err as Error).message;
        expect(message).not.toContain(bad);
        expect(message).not.toContain(key);
        messages.add(message);
      }
    }
    expect([...messages]).toEqual(['invalid or expired token']);
  });

  it('rejects a malformed key without printing it', () => {
    const valid = generateFernetKey();
    const std = Buffer.alloc(32, 0xfb).toString('base64'); // has '+' or '/'
    for (const bad of [
      '',
      valid.slice(0, 43), // no padding
      std,
      Buffer.alloc(16).toString('base64url'),
      Buffer.alloc(33).toString('base64url'),
      `${valid} `,
    ]) {
      let error: unknown;
      try {
        new Fernet(bad);
      } catch (err) {
        error = err;
      }
      expect(error, JSON.stringify(bad)).toBeInstanceOf(Error);
      const message = (error as Error).message;
      expect(message).toMatch(/invalid Fernet key/);
      if (bad.length > 0) expect(message).not.toContain(bad);
    }
  });

  it('rejects a non-canonical key (non-zero trailing bits)', () => {
    // 43 characters carry 258 bits for 256: the last character must end in two zero bits.
    const valid = Buffer.alloc(32).toString('base64url') + '=';
    expect(() => new Fernet(valid)).not.toThrow();
    expect(() => new Fernet(`${valid.slice(0, 42)}B=`)).toThrow(/invalid Fernet key/);
  });

  it('rejects an IV that is not 16 bytes', () => {
    expect(() => fernet.encrypt('x', { iv: new Uint8Array(15) })).toThrow(RangeError);
  });

  it('decryptString refuses bytes that are not UTF-8', () => {
    const token = fernet.encrypt(Uint8Array.of(0xff, 0xfe));
    expect(() => fernet.decryptString(token)).toThrow(TypeError);
  });

  it('keeps the key out of inspection and JSON', async () => {
    const { inspect } = await import('node:util');
    const raw = Buffer.from(key, 'base64url');
    const shown = inspect(fernet, { showHidden: true, depth: 5 }) + JSON.stringify(fernet);
    expect(shown).not.toContain(key);
    expect(shown).not.toContain(raw.subarray(0, 16).toString('hex'));
    expect(shown).not.toMatch(/<Buffer/);
  });
});
