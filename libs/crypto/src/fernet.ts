/*
 * Fernet (https://github.com/fernet/spec/blob/master/Spec.md) written by hand on
 * `node:crypto`, the audited primitive that ships with Node. The npm `fernet`
 * packages were not used: `fernet` 0.4.0 accepts three of the official invalid
 * vectors and depends on the discontinued crypto-js 3.x, and `fernet-nodejs` has no
 * TTL check and cannot take an IV or a time, so the official vectors cannot even run
 * against it (see ../shared/vectors/fernet/README.md beside the repository). This file only frames the
 * token; AES-128-CBC, HMAC-SHA256, the random source and the constant-time
 * comparison all come from `node:crypto`.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { decodeBase64UrlStrict, encodeBase64UrlPadded } from './base64url.js';

const VERSION = 0x80;
const KEY_BYTES = 32;
const HALF_KEY_BYTES = 16;
const TIMESTAMP_BYTES = 8;
const IV_BYTES = 16;
const BLOCK_BYTES = 16;
const HMAC_BYTES = 32;
/** Version, timestamp and IV: the fields in front of the ciphertext. */
const HEADER_BYTES = 1 + TIMESTAMP_BYTES + IV_BYTES;
/** PKCS7 always adds at least one block, so the ciphertext is never empty. */
const MIN_TOKEN_BYTES = HEADER_BYTES + BLOCK_BYTES + HMAC_BYTES;
/** How far in the future a token's timestamp may be (as in Python `cryptography`). */
export const FERNET_MAX_CLOCK_SKEW_SECONDS = 60;

const KEY_SHAPE = /^[A-Za-z0-9_-]{43}=$/;

/**
 * The one error of every rejected Fernet token, whatever the reason (malformed,
 * wrong key, tampered, bad padding, expired, from the future): callers cannot tell
 * the reasons apart, so there is no padding or MAC oracle. The message never
 * contains the token or the key.
 */
export class InvalidFernetTokenError extends Error {
  constructor() {
    super('invalid or expired token');
    this.name = 'InvalidFernetTokenError';
  }
}

export interface FernetEncryptOptions {
  /** The time recorded in the token (default: now). A `Date` or epoch milliseconds. */
  readonly now?: Date | number;
  /**
   * The 16-byte IV. Only for reproducing test vectors: a fixed IV reused with the
   * same key leaks equal plaintext prefixes. Default: 16 fresh random bytes.
   */
  readonly iv?: Uint8Array;
}

export interface FernetDecryptOptions {
  /**
   * Maximum age of the token in seconds. When given, a token older than this, or
   * stamped more than 60 s in the future, is rejected. When omitted, the time is not
   * checked at all (as in Python `cryptography`, where the clock-skew check is part
   * of the TTL check), so secrets stored at rest stay readable whatever the clock.
   */
  readonly ttlSeconds?: number;
  /** The current time for the TTL check (default: now). A `Date` or epoch ms. */
  readonly now?: Date | number;
}

/** A base64url-decoded token whose layout (not authenticity) has been checked. */
export interface DecodedFernetToken {
  readonly bytes: Buffer;
  /** Seconds since the epoch, as recorded (unauthenticated until the MAC is verified). */
  readonly timestamp: bigint;
}

/** 32 fresh random bytes in URL-safe base64 with padding: a new Fernet key. */
export function generateFernetKey(): string {
  return encodeBase64UrlPadded(randomBytes(KEY_BYTES));
}

function epochMs(now: Date | number | undefined): number {
  const ms = now === undefined ? Date.now() : typeof now === 'number' ? now : now.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('now must be a valid Date or epoch milliseconds');
  return ms;
}

function toBuffer(data: string | Uint8Array): Buffer {
  return typeof data === 'string'
    ? Buffer.from(data, 'utf8')
    : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Steps 1 and 2 of the spec's verification plus the layout checks that need no key:
 * strict base64url, version byte, minimum length, whole cipher blocks.
 * @internal shared by {@link Fernet} and the key ring; not exported by the library.
 */
export function decodeFernetToken(token: unknown): DecodedFernetToken {
  if (typeof token !== 'string') throw new InvalidFernetTokenError();
  const bytes = decodeBase64UrlStrict(token, true);
  if (
    bytes === undefined ||
    bytes.length < MIN_TOKEN_BYTES ||
    bytes[0] !== VERSION ||
    (bytes.length - HEADER_BYTES - HMAC_BYTES) % BLOCK_BYTES !== 0
  ) {
    throw new InvalidFernetTokenError();
  }
  return { bytes, timestamp: bytes.readBigUInt64BE(1) };
}

/**
 * Step 3: the TTL and clock-skew checks, only when a TTL is given. The timestamp is
 * public, so checking it before the MAC (as Python does) reveals nothing.
 * @internal
 */
export function checkFernetTokenTime(
  token: DecodedFernetToken,
  opts: FernetDecryptOptions | undefined,
): void {
  const ttl = opts?.ttlSeconds;
  if (ttl === undefined) return;
  if (!Number.isFinite(ttl) || ttl < 0) {
    throw new RangeError('ttlSeconds must be a finite number >= 0');
  }
  const now = Math.floor(epochMs(opts?.now) / 1000);
  // Past 2^53 the conversion rounds, but such a timestamp is far in the future anyway.
  const timestamp = Number(token.timestamp);
  if (timestamp + ttl < now || now + FERNET_MAX_CLOCK_SKEW_SECONDS < timestamp) {
    throw new InvalidFernetTokenError();
  }
}

/**
 * One Fernet key split into its signing and encryption halves.
 * @internal used by {@link Fernet} and the key ring; not exported by the library.
 */
export class FernetKey {
  // ECMAScript private fields: not enumerable, not in JSON.stringify or util.inspect.
  readonly #signingKey: Buffer;
  readonly #encryptionKey: Buffer;

  constructor(key: string) {
    const bytes =
      typeof key === 'string' && KEY_SHAPE.test(key) && decodeBase64UrlStrict(key, true);
    if (!bytes || bytes.length !== KEY_BYTES) {
      // Never echo the key, not even a part of it.
      throw new TypeError(
        'invalid Fernet key: expected 32 bytes in URL-safe base64 (44 characters ending in "=")',
      );
    }
    this.#signingKey = bytes.subarray(0, HALF_KEY_BYTES);
    this.#encryptionKey = bytes.subarray(HALF_KEY_BYTES);
  }

  /** Builds a token; `timestamp` is the 8-byte big-endian field. */
  seal(plaintext: Buffer, timestamp: Buffer, iv: Buffer): string {
    const cipher = createCipheriv('aes-128-cbc', this.#encryptionKey, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const signed = Buffer.concat([Buffer.of(VERSION), timestamp, iv, ciphertext]);
    const mac = createHmac('sha256', this.#signingKey).update(signed).digest();
    return encodeBase64UrlPadded(Buffer.concat([signed, mac]));
  }

  /** Whether the token's HMAC verifies under this key (constant-time comparison). */
  verifies(token: DecodedFernetToken): boolean {
    const macAt = token.bytes.length - HMAC_BYTES;
    const expected = createHmac('sha256', this.#signingKey)
      .update(token.bytes.subarray(0, macAt))
      .digest();
    const actual = token.bytes.subarray(macAt);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  /**
   * Steps 4 to 7: `undefined` when the MAC does not verify under this key, else the
   * plaintext. Decryption only ever runs on authenticated bytes; a padding error
   * after that (possible only for a token forged with the key) still throws.
   */
  open(token: DecodedFernetToken): Buffer | undefined {
    if (!this.verifies(token)) return undefined;
    const { bytes } = token;
    const iv = bytes.subarray(1 + TIMESTAMP_BYTES, HEADER_BYTES);
    const ciphertext = bytes.subarray(HEADER_BYTES, bytes.length - HMAC_BYTES);
    const decipher = createDecipheriv('aes-128-cbc', this.#encryptionKey, iv);
    decipher.setAutoPadding(false); // PKCS7 is checked below, explicitly and in full
    const padded = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    const pad = padded[padded.length - 1] ?? 0;
    if (pad < 1 || pad > BLOCK_BYTES) throw new InvalidFernetTokenError();
    for (let i = padded.length - pad; i < padded.length; i++) {
      if (padded[i] !== pad) throw new InvalidFernetTokenError();
    }
    return padded.subarray(0, padded.length - pad);
  }
}

/**
 * Encrypts with the current time (or `opts.now`) and a random IV (or `opts.iv`).
 * @internal
 */
export function sealFernet(
  key: FernetKey,
  plaintext: string | Uint8Array,
  opts: FernetEncryptOptions | undefined,
): string {
  const seconds = Math.floor(epochMs(opts?.now) / 1000);
  if (seconds < 0) throw new RangeError('Fernet cannot record a time before 1970');
  const timestamp = Buffer.alloc(TIMESTAMP_BYTES);
  timestamp.writeBigUInt64BE(BigInt(seconds));
  let iv: Buffer;
  if (opts?.iv === undefined) {
    iv = randomBytes(IV_BYTES);
  } else {
    if (opts.iv.byteLength !== IV_BYTES) throw new RangeError('the IV must be 16 bytes');
    iv = Buffer.from(opts.iv); // a copy, so the caller's array cannot change under us
  }
  return key.seal(toBuffer(plaintext), timestamp, iv);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 decoding that throws on invalid bytes instead of inserting U+FFFD. @internal */
export function decodeUtf8(bytes: Buffer): string {
  return utf8.decode(bytes);
}

/**
 * Fernet symmetric encryption, exactly per the spec: AES-128-CBC with PKCS7 padding,
 * authenticated by HMAC-SHA256 (encrypt-then-MAC) over the version, timestamp, IV
 * and ciphertext; the token is URL-safe base64. Guarantees: a token that decrypts
 * was produced with this key and was not modified; the MAC is checked in constant
 * time before any decryption; every rejection is the same
 * {@link InvalidFernetTokenError}. Passes the official vectors and interoperates
 * with Python `cryptography`'s `Fernet`. Fernet hides the content, not the length.
 */
export class Fernet {
  readonly #key: FernetKey;

  /** @param key 32 bytes in URL-safe base64 with padding (see `generateFernetKey`). */
  constructor(key: string) {
    this.#key = new FernetKey(key);
  }

  encrypt(plaintext: string | Uint8Array, opts?: FernetEncryptOptions): string {
    return sealFernet(this.#key, plaintext, opts);
  }

  /** The plaintext bytes, or {@link InvalidFernetTokenError}. */
  decrypt(token: string, opts?: FernetDecryptOptions): Buffer {
    const decoded = decodeFernetToken(token);
    checkFernetTokenTime(decoded, opts);
    const plaintext = this.#key.open(decoded);
    if (plaintext === undefined) throw new InvalidFernetTokenError();
    return plaintext;
  }

  /** {@link decrypt} then strict UTF-8 decoding (a `TypeError` if the bytes are not UTF-8). */
  decryptString(token: string, opts?: FernetDecryptOptions): string {
    return decodeUtf8(this.decrypt(token, opts));
  }
}
