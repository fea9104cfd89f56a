import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Crockford's base32 (no i, l, o, u: nothing to misread), lower-case. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const CODE_CHARS = 12; // 60 random bits

/**
 * One-time recovery codes for a user who lost their authenticator, like
 * "k7qm-2xfp-9hd3". Only their SHA-256 is stored: 60 random bits need no slow hash.
 */
export function generateRecoveryCodes(count = 10): { codes: string[]; hashes: string[] } {
  const codes = new Set<string>();
  while (codes.size < count) {
    // 256 is a multiple of 32: the low 5 bits of a random byte are uniform.
    const chars = [...randomBytes(CODE_CHARS)].map((b) => ALPHABET.charAt(b & 31)).join('');
    codes.add(`${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8)}`);
  }
  const list = [...codes];
  return { codes: list, hashes: list.map(hashRecoveryCode) };
}

/**
 * SHA-256 (hex) of a code as typed: case, spaces and dashes do not matter, and the
 * letters Crockford's alphabet leaves out are read as the digits they look like
 * (i and l as 1, o as 0), since a code never contains them.
 */
export function hashRecoveryCode(code: string): string {
  const normalised = code
    .toLowerCase()
    .replace(/[\s-]+/g, '')
    .replace(/[il]/g, '1')
    .replace(/o/g, '0');
  return createHash('sha256').update(normalised).digest('hex');
}

/** Index of the hash that `code` matches, or -1. Compares with every hash, in constant time each. */
export function findRecoveryCode(code: string, hashes: readonly string[]): number {
  const candidate = Buffer.from(hashRecoveryCode(code), 'hex');
  let found = -1;
  hashes.forEach((hash, i) => {
    const stored = Buffer.from(hash.trim(), 'hex');
    if (stored.length === candidate.length && timingSafeEqual(stored, candidate) && found < 0) {
      found = i;
    }
  });
  return found;
}
