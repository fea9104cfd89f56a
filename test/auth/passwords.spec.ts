import bcrypt from 'bcrypt';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, ValidationError, type DomainError } from '@ibhq/core';
import { PasswordService } from '@ibhq/auth';
import { testConfig } from '../support/db.js';

const passwords = () => new PasswordService(testConfig({ BCRYPT_COST: '4' }));
const user = ['ada.lovelace@example.com', 'Ada Lovelace', 'Analytical Engines Ltd'];
const STRONG = 'violet-anchor-tundra-92';

function policyProblem(fn: () => void): { field: string; message: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as DomainError).code).toBe(ErrorCode.ValidationFailed);
    const [problem] = (e as ValidationError).fields;
    return problem!;
  }
  throw new Error('the password was accepted');
}

describe('PasswordService.checkPolicy', () => {
  const service = passwords();

  it.each([
    ['password123', /too common or too easy to guess/],
    ['qwertyuiop', /too common or too easy to guess/],
    ['Password1!', /too common or too easy to guess/],
    ['ada.lovelace@example.com', /too common or too easy to guess/],
    ['lovelace1815', /too common or too easy to guess/],
    ['EnginesLovelace', /too common or too easy to guess/],
    ['xK9#mQ2$v', /at least 10 characters/],
    ['é'.repeat(37), /at most 72 bytes .*bcrypt/],
  ])('refuses %j', (password, message) => {
    const problem = policyProblem(() => {
      service.checkPolicy(password, user);
    });
    expect(problem.field).toBe('password');
    expect(problem.message).toMatch(message);
  });

  it('counts characters, not bytes: 36 x "é" (72 bytes) is long enough and within the limit', () => {
    expect(Buffer.byteLength('é'.repeat(36))).toBe(72);
    // Refused for its weakness (a repetition), not for its length.
    expect(
      policyProblem(() => {
        service.checkPolicy('é'.repeat(36), []);
      }).message,
    ).toMatch(/too common/);
    expect(
      policyProblem(() => {
        service.checkPolicy('é'.repeat(9), []);
      }).message,
    ).toMatch(/at least 10/);
  });

  it('accepts strong passwords and names the field it was given', () => {
    expect(() => {
      service.checkPolicy(STRONG, user);
    }).not.toThrow();
    expect(() => {
      service.checkPolicy('Glühwein-Brücke-Nordlicht', user);
    }).not.toThrow();
    expect(
      policyProblem(() => {
        service.checkPolicy('short', user, 'newPassword');
      }).field,
    ).toBe('newPassword');
  });

  it("refuses the user's own data only for that user", () => {
    expect(() => {
      service.checkPolicy('AnalyticalEngines', []);
    }).not.toThrow();
    expect(() => {
      service.checkPolicy('AnalyticalEngines', user);
    }).toThrow(ValidationError);
  });
});

describe('PasswordService hash and verify', () => {
  const service = passwords();

  it('hashes with bcrypt at the configured cost and verifies', async () => {
    const hash = await service.hash(STRONG);
    expect(hash).toMatch(/^\$2b\$04\$/);
    expect(await service.verify(STRONG, hash)).toBe(true);
    expect(await service.verify(`${STRONG}x`, hash)).toBe(false);
    expect(await service.verify('', hash)).toBe(false);
  });

  it('refuses to hash more than 72 bytes, and never matches a longer password on its first 72', async () => {
    await expect(service.hash('a'.repeat(73))).rejects.toBeInstanceOf(ValidationError);
    const hash = await bcrypt.hash('a'.repeat(72), 4);
    expect(await service.verify('a'.repeat(72), hash)).toBe(true);
    expect(await bcrypt.compare('a'.repeat(80), hash)).toBe(true); // what bcrypt alone does
    expect(await service.verify('a'.repeat(80), hash)).toBe(false);
  });

  it('returns false for an unknown user (null hash) after a real bcrypt comparison', async () => {
    const compare = vi.spyOn(bcrypt, 'compare');
    expect(await service.verify(STRONG, null)).toBe(false);
    expect(compare).toHaveBeenCalledTimes(1);
    const [candidate, dummy] = compare.mock.calls[0]! as unknown as [string, string];
    expect(candidate).toBe(STRONG);
    expect(dummy).toMatch(/^\$2b\$04\$.{53}$/); // a hash of the configured cost
    // The dummy is made once.
    expect(await service.verify('another-password', null)).toBe(false);
    expect((compare.mock.calls[1] as unknown as [string, string])[1]).toBe(dummy);
  });

  it('takes about as long for an unknown user as for a wrong password', async () => {
    const slow = new PasswordService(testConfig({ BCRYPT_COST: '8' }));
    const hash = await slow.hash(STRONG);
    await slow.verify('warm-up', null);
    const time = async (h: string | null) => {
      const start = performance.now();
      for (let i = 0; i < 3; i++) await slow.verify('wrong-password-1', h);
      return performance.now() - start;
    };
    const known = await time(hash);
    const unknown = await time(null);
    // Loose on purpose (shared CI machines): the unknown path does bcrypt work too.
    expect(unknown).toBeGreaterThan(known / 2);
  });
});
