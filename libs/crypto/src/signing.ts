/*
 * Signed links and webhook signatures, written on `node:crypto` (HMAC-SHA256 and
 * `timingSafeEqual`) rather than a JWT library: the format is a dozen lines, has no
 * algorithm field to confuse, and binds the purpose into the MAC.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodeBase64UrlStrict } from './base64url.js';

/** Longest signed-link token accepted; longer input is rejected before any work. */
export const MAX_SIGNED_TOKEN_LENGTH = 4096;
const MAX_WEBHOOK_HEADER_LENGTH = 1024;
const MIN_KEY_LENGTH = 32;
const MAC_BYTES = 32;
const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;
/**
 * Prefix of every signed-link MAC input. Webhook MAC inputs start with a decimal
 * timestamp, so a signature made for one use can never verify for the other.
 */
const LINK_DOMAIN = 'ibhq.signed-link.v1';
const PURPOSE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const UNIX_SECONDS = /^\d{1,12}$/;
const HEX_MAC = /^[0-9a-fA-F]{64}$/;

/**
 * A signature or signed token was rejected: malformed, tampered, made for another
 * purpose, made with a key outside the ring, or (webhooks) outside the time
 * tolerance. Deliberately one class with one message for all of these.
 */
export class InvalidSignatureError extends Error {
  constructor() {
    super('invalid signature');
    this.name = 'InvalidSignatureError';
  }
}

/** A signed token whose MAC verified but whose `exp` has passed. */
export class SignatureExpiredError extends Error {
  constructor() {
    super('signature expired');
    this.name = 'SignatureExpiredError';
  }
}

function nowMs(now: number | undefined): number {
  const ms = now ?? Date.now();
  if (!Number.isFinite(ms)) throw new RangeError('now must be finite epoch milliseconds');
  return ms;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function assertPurpose(purpose: string): void {
  if (!PURPOSE.test(purpose)) {
    throw new TypeError(
      'purpose must be 1 to 64 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit',
    );
  }
}

/** Constant-time equality that first checks the lengths (timingSafeEqual throws otherwise). */
function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * HMAC-SHA256 signatures for signed links (checkout links, invitations) and
 * webhooks, with a key ring: the first key signs, any key verifies, so keys can be
 * rotated without breaking links already handed out.
 *
 * Guarantees of {@link sign}/{@link verify}: a token verifies only for the purpose it
 * was signed for and only if unmodified and made with a key of the ring; MACs are
 * compared in constant time; expiry is judged only after the MAC verified, so
 * {@link SignatureExpiredError} is never thrown for a forged token. The payload is
 * signed, not encrypted: anyone holding the token can read it.
 */
export class Signer {
  readonly #keys: readonly [Buffer, ...Buffer[]];

  /** @param keys HMAC keys of at least 32 characters each, newest first (at least one). */
  constructor(keys: readonly string[]) {
    const parsed = keys.map((key, i) => {
      if (key.length < MIN_KEY_LENGTH) {
        // The index only: the key itself must not reach a log.
        throw new TypeError(`signing key #${i + 1} is shorter than ${MIN_KEY_LENGTH} characters`);
      }
      return Buffer.from(key, 'utf8');
    });
    const [first, ...rest] = parsed;
    if (first === undefined) throw new TypeError('a Signer needs at least one key');
    this.#keys = [first, ...rest];
  }

  /**
   * A compact URL-safe token `base64url(JSON {p, exp, pur}).base64url(mac)`. The
   * payload goes through JSON, so `verify` returns its JSON form (dates become
   * strings, `undefined` fields disappear).
   */
  sign(
    purpose: string,
    payload: Record<string, unknown>,
    opts: { readonly expiresInSeconds: number; readonly now?: number },
  ): string {
    assertPurpose(purpose);
    if (!isRecord(payload)) throw new TypeError('payload must be a plain object');
    if (!Number.isSafeInteger(opts.expiresInSeconds) || opts.expiresInSeconds <= 0) {
      throw new RangeError('expiresInSeconds must be a positive integer');
    }
    const exp = Math.floor(nowMs(opts.now) / 1000) + opts.expiresInSeconds;
    const body = Buffer.from(JSON.stringify({ p: payload, exp, pur: purpose }), 'utf8').toString(
      'base64url',
    );
    const token = `${body}.${linkMac(this.#keys[0], purpose, body).toString('base64url')}`;
    if (token.length > MAX_SIGNED_TOKEN_LENGTH) {
      throw new RangeError(`signed token longer than ${MAX_SIGNED_TOKEN_LENGTH} characters`);
    }
    return token;
  }

  /**
   * The payload of a token signed for `purpose`. Throws {@link InvalidSignatureError}
   * (malformed, tampered, other purpose, unknown key) or, once the MAC verified,
   * {@link SignatureExpiredError} at or after `exp`. `T` is not checked at run time:
   * the payload is whatever was signed.
   */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the payload type it signed
  verify<T = Record<string, unknown>>(
    purpose: string,
    token: string,
    opts?: { readonly now?: number },
  ): T {
    assertPurpose(purpose);
    // Bound the work before anything else: the token usually comes from a URL.
    if (typeof token !== 'string' || token.length > MAX_SIGNED_TOKEN_LENGTH) {
      throw new InvalidSignatureError();
    }
    const dot = token.indexOf('.');
    if (dot <= 0 || dot !== token.lastIndexOf('.')) throw new InvalidSignatureError();
    const body = token.slice(0, dot);
    const mac = decodeBase64UrlStrict(token.slice(dot + 1), false);
    if (mac?.length !== MAC_BYTES) throw new InvalidSignatureError();

    let verified = false;
    for (const key of this.#keys) {
      // No early exit: every key is tried, in constant time each.
      const matches = safeEqual(linkMac(key, purpose, body), mac);
      verified = verified || matches;
    }
    if (!verified) throw new InvalidSignatureError();

    // Authentic from here on; the checks below only guard against our own bugs.
    const json = decodeBase64UrlStrict(body, false);
    let claims: unknown;
    try {
      claims = json === undefined ? undefined : JSON.parse(json.toString('utf8'));
    } catch {
      throw new InvalidSignatureError();
    }
    if (
      !isRecord(claims) ||
      !isRecord(claims.p) ||
      !Number.isSafeInteger(claims.exp) ||
      claims.pur !== purpose
    ) {
      throw new InvalidSignatureError();
    }
    if (nowMs(opts?.now) >= (claims.exp as number) * 1000) throw new SignatureExpiredError();
    return claims.p as T;
  }

  /**
   * A webhook signature header `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`
   * (the Stripe scheme) under the first key. Sign the exact bytes that are sent.
   */
  signWebhook(body: string | Buffer, opts?: { readonly now?: number }): string {
    const t = Math.floor(nowMs(opts?.now) / 1000);
    return `t=${t},v1=${webhookMac(this.#keys[0], t, body).toString('hex')}`;
  }

  /**
   * Checks a webhook signature header against the raw body (the exact bytes
   * received, not re-serialized JSON). Throws {@link InvalidSignatureError} if the
   * header is missing or malformed, its timestamp is more than `toleranceSeconds`
   * (default 300) away from now in either direction, or no `v1` signature matches
   * any key of the ring. Several `v1` entries are allowed (a sender rotating keys);
   * other schemes such as `v0` are ignored.
   */
  verifyWebhook(
    body: string | Buffer,
    header: string,
    opts?: { readonly toleranceSeconds?: number; readonly now?: number },
  ): void {
    const tolerance = opts?.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
    if (!Number.isFinite(tolerance) || tolerance < 0) {
      throw new RangeError('toleranceSeconds must be a finite number >= 0');
    }
    if (typeof header !== 'string' || header.length > MAX_WEBHOOK_HEADER_LENGTH) {
      throw new InvalidSignatureError();
    }
    let t: number | undefined;
    const signatures: Buffer[] = [];
    for (const part of header.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new InvalidSignatureError();
      const name = part.slice(0, eq).trim();
      const value = part.slice(eq + 1).trim();
      if (name === 't') {
        if (t !== undefined || !UNIX_SECONDS.test(value)) throw new InvalidSignatureError();
        t = Number(value);
      } else if (name === 'v1') {
        if (!HEX_MAC.test(value)) throw new InvalidSignatureError();
        signatures.push(Buffer.from(value, 'hex'));
      }
    }
    if (t === undefined || signatures.length === 0) throw new InvalidSignatureError();
    if (Math.abs(Math.floor(nowMs(opts?.now) / 1000) - t) > tolerance)
      throw new InvalidSignatureError();

    let verified = false;
    for (const key of this.#keys) {
      const expected = webhookMac(key, t, body);
      for (const signature of signatures) {
        const matches = safeEqual(expected, signature);
        verified = verified || matches;
      }
    }
    if (!verified) throw new InvalidSignatureError();
  }
}

function linkMac(key: Buffer, purpose: string, body: string): Buffer {
  return createHmac('sha256', key).update(`${LINK_DOMAIN}\n${purpose}\n${body}`).digest();
}

function webhookMac(key: Buffer, t: number, body: string | Buffer): Buffer {
  return createHmac('sha256', key).update(`${t}.`).update(body).digest();
}
