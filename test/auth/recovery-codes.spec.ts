import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findRecoveryCode, generateRecoveryCodes, hashRecoveryCode } from '@ibhq/auth';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('recovery codes', () => {
  it('generates 10 unique codes of 12 Crockford base32 characters, with their hashes', () => {
    const { codes, hashes } = generateRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes)
      expect(code).toMatch(/^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){2}$/);
    expect(hashes).toEqual(codes.map((c) => sha256(c.replaceAll('-', ''))));
    expect(generateRecoveryCodes(3).codes).toHaveLength(3);
  });

  it('uses the whole alphabet (the codes are random, not a pattern)', () => {
    const chars = new Set(generateRecoveryCodes(200).codes.join('').replaceAll('-', ''));
    expect(chars.size).toBe(32);
  });

  it('hashes a code the same however it is typed', () => {
    const expected = sha256('k7qm2xfp9hd3');
    expect(hashRecoveryCode('k7qm-2xfp-9hd3')).toBe(expected);
    expect(hashRecoveryCode('K7QM 2XFP-9HD3')).toBe(expected);
    expect(hashRecoveryCode(' k7qm2xfp9hd3 ')).toBe(expected);
    // Letters outside the alphabet read as the digits they resemble.
    expect(hashRecoveryCode('abco-1il0-0000')).toBe(hashRecoveryCode('abc0-1110-0000'));
    expect(hashRecoveryCode('k7qm-2xfp-9hd4')).not.toBe(expected);
  });

  it('finds the index of the matching hash, or -1', () => {
    const { codes, hashes } = generateRecoveryCodes();
    expect(findRecoveryCode(codes[3]!, hashes)).toBe(3);
    expect(findRecoveryCode(codes[9]!.toUpperCase().replaceAll('-', ' '), hashes)).toBe(9);
    expect(findRecoveryCode('0000-0000-0000', hashes)).toBe(-1);
    expect(findRecoveryCode(codes[0]!, [])).toBe(-1);
    // Malformed stored entries are skipped, not a crash.
    expect(findRecoveryCode(codes[0]!, ['', 'zz', hashes[0]!])).toBe(2);
  });
});
