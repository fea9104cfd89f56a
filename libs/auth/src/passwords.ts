import { randomBytes } from 'node:crypto';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';
import bcrypt from 'bcrypt';
import { AppConfig, ValidationError } from '@ibhq/core';

export const PASSWORD_MIN_CHARACTERS = 10;
/** bcrypt reads at most 72 bytes of its input and silently ignores the rest. */
export const PASSWORD_MAX_BYTES = 72;
/** zxcvbn's scale is 0..4; 3 is "safely unguessable" against an offline attack on a slow hash. */
const MIN_SCORE = 3;

/**
 * One estimator per process: building it ranks the dictionaries (tens of ms), a check
 * then takes a few ms. Levenshtein matching stays off: it makes each check ~20x
 * slower (100+ ms of blocked event loop) for little gain over the dictionary, l33t,
 * keyboard-pattern and user-input matchers.
 */
let estimator: ZxcvbnFactory | undefined;
function zxcvbn(): ZxcvbnFactory {
  estimator ??= new ZxcvbnFactory({ dictionary, graphs: adjacencyGraphs });
  return estimator;
}

/** Characters as a user counts them (grapheme clusters: "é" is one, decomposed or not). */
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
function characters(text: string): number {
  let n = 0;
  for (const _ of graphemes.segment(text)) n++;
  return n;
}

/**
 * The words of the user's own data (e-mail, names, tenant name), whole and split: zxcvbn
 * matches user inputs as whole dictionary words, so "Acme Corp" alone would not catch
 * "acmecorp2024" but "acme" and "corp" do.
 */
function userWords(inputs: readonly string[]): string[] {
  const words = new Set<string>();
  for (const input of inputs) {
    const lower = input.trim().toLowerCase();
    if (lower === '') continue;
    words.add(lower);
    for (const part of lower.split(/[^\p{L}\p{N}]+/u)) if (part.length >= 3) words.add(part);
  }
  return [...words];
}

/**
 * Password policy, hashing and verification (bcrypt). Verification is timing-safe
 * (bcrypt.compare) and takes as long for an unknown e-mail as for a wrong password:
 * it then compares against a dummy hash of the same cost.
 */
@Injectable()
export class PasswordService implements OnModuleInit {
  private readonly cost: number;
  private dummy: Promise<string> | undefined;

  constructor(config: AppConfig) {
    this.cost = config.auth.bcryptCost;
  }

  /** Makes the dummy hash (and the estimator) at startup rather than on the first sign-in. */
  async onModuleInit(): Promise<void> {
    zxcvbn();
    await this.dummyHash();
  }

  /** Throws a ValidationError naming `field` unless the password is long and strong enough. */
  checkPolicy(password: string, userInputs: readonly string[], field = 'password'): void {
    const problem = (message: string) => new ValidationError([{ field, message }]);
    if (characters(password) < PASSWORD_MIN_CHARACTERS) {
      throw problem(`must be at least ${PASSWORD_MIN_CHARACTERS} characters long`);
    }
    if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) {
      throw problem(
        `must be at most ${PASSWORD_MAX_BYTES} bytes in UTF-8 (the limit of bcrypt; accented and other non-ASCII characters take 2 to 4 bytes each)`,
      );
    }
    if (zxcvbn().check(password, userWords(userInputs)).score < MIN_SCORE) {
      throw problem(
        'is too common or too easy to guess (or too close to your e-mail or name); a few unrelated words make a strong password',
      );
    }
  }

  hash(password: string): Promise<string> {
    // bcrypt would silently hash only the first 72 bytes; checkPolicy refuses longer
    // ones, and this guards callers that skipped it.
    if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) {
      return Promise.reject(
        new ValidationError([
          { field: 'password', message: `must be at most ${PASSWORD_MAX_BYTES} bytes in UTF-8` },
        ]),
      );
    }
    return bcrypt.hash(password, this.cost);
  }

  /**
   * Whether `password` matches `hash`. `hash === null` (no such user): compares
   * against the dummy hash so that the answer takes as long, and returns false.
   */
  async verify(password: string, hash: string | null): Promise<boolean> {
    // No password longer than bcrypt's limit was ever accepted, and bcrypt would
    // compare only its first 72 bytes: such a password matches nothing.
    const tooLong = Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES;
    const candidate = tooLong ? password.slice(0, 1) : password;
    const matches = await bcrypt.compare(candidate, hash ?? (await this.dummyHash()));
    return matches && hash !== null && !tooLong;
  }

  private dummyHash(): Promise<string> {
    // The dummy's password is random: nothing can match it.
    this.dummy ??= bcrypt
      .hash(randomBytes(32).toString('base64url'), this.cost)
      .catch((e: unknown) => {
        this.dummy = undefined; // try again next time
        throw e;
      });
    return this.dummy;
  }
}
