/**
 * Redaction of secrets and personal data from anything that is logged.
 *
 * pino's own `redact` option only masks exact paths chosen in advance; a secret can
 * sit under any key of a job payload or an error's details, so every logged object
 * is walked and masked by key name, and every string is scrubbed of values that
 * look like credentials whatever their key.
 */
export const REDACTED = '[REDACTED]';

/** Keys (compared lower-case without separators) whose values are never logged. */
const SECRET_KEY =
  /pass(word|wd|phrase)?$|secret|token|authorization|cookie|apikey|apihash|session|privatekey|mnemonic|seed|otp|recoverycode|fernet|signature|credential|xpub|xprv/;
/** Personal fields: logged by id only. */
const PERSONAL_KEY = /^(email|phone|phonenumber|firstname|lastname|displayname|username|fullname)$/;

export function isSensitiveKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  return SECRET_KEY.test(k) || PERSONAL_KEY.test(k);
}

const VALUE_PATTERNS: readonly [RegExp, string][] = [
  // HTTP credentials written out in a message.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  // Fernet tokens (version byte 0x80 => "gAAAAA").
  [/gAAAAA[A-Za-z0-9_-]{20,}={0,2}/g, REDACTED],
  // Key-value credentials inside URLs and strings: ?token=..., password=...
  [
    /\b(password|passwd|token|secret|api[_-]?key|session|signature|code)=([^&\s"']+)/gi,
    `$1=${REDACTED}`,
  ],
  // user:password@ in connection strings.
  [/(\w+:\/\/[^:/\s]+):[^@/\s]+@/g, `$1:${REDACTED}@`],
  // Long opaque base64 runs: Telegram session strings, keys, raw tokens.
  [/[A-Za-z0-9+/_-]{120,}={0,2}/g, REDACTED],
];

export function scrubString(value: string): string {
  let out = value;
  for (const [pattern, replacement] of VALUE_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

const MAX_DEPTH = 8;

/** Returns a copy of `value` with sensitive keys masked and strings scrubbed. */
export function redactDeep(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1, seen));
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown; details?: unknown };
    const out: Record<string, unknown> = {
      type: e.name,
      message: scrubString(e.message),
      stack: e.stack === undefined ? undefined : scrubString(e.stack),
    };
    if (e.code !== undefined) out.code = e.code;
    if (e.details !== undefined) out.details = redactDeep(e.details, depth + 1, seen);
    if (e.cause !== undefined) out.cause = redactDeep(e.cause, depth + 1, seen);
    return out;
  }
  // Class instances other than errors (requests, sockets, dates, buffers) are left to
  // pino's serializers, which turn them into the safe shapes of logger-options.ts.
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      isSensitiveKey(k) && v !== undefined && v !== null
        ? REDACTED
        : redactDeep(v, depth + 1, seen);
  }
  return out;
}
