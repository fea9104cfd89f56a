import { randomBytes } from 'node:crypto';
import {
  type FernetDecryptOptions,
  FernetKey,
  type DecodedFernetToken,
  InvalidFernetTokenError,
  checkFernetTokenTime,
  decodeFernetToken,
  decodeUtf8,
  sealFernet,
} from './fernet.js';

/**
 * Fernet with several keys, for key rotation (Python's `MultiFernet`): the first
 * key encrypts, every key decrypts, and {@link rotate} re-encrypts a token under the
 * first key without changing its timestamp, so TTLs keep counting from the original
 * encryption. Same guarantees as `Fernet`: a token that no key authenticates is
 * rejected with {@link InvalidFernetTokenError}, before any decryption.
 */
export class FernetKeyRing {
  readonly #keys: readonly [FernetKey, ...FernetKey[]];

  /** @param keys Fernet keys, newest first (at least one). */
  constructor(keys: readonly string[]) {
    const parsed = keys.map((key, i) => {
      try {
        return new FernetKey(key);
      } catch (err) {
        // The index only: the key itself must not reach a log.
        throw new TypeError(`Fernet key #${i + 1} of the key ring is invalid`, { cause: err });
      }
    });
    const [first, ...rest] = parsed;
    if (first === undefined) throw new TypeError('a Fernet key ring needs at least one key');
    this.#keys = [first, ...rest];
  }

  /** Encrypts under the first key, at the current time (or `opts.now`). */
  encrypt(plaintext: string | Uint8Array, opts?: { readonly now?: Date | number }): string {
    // Only `now`: a caller-chosen IV is for test vectors, not for the ring.
    return sealFernet(this.#keys[0], plaintext, { now: opts?.now });
  }

  /** The plaintext under the first key whose MAC verifies, else {@link InvalidFernetTokenError}. */
  decrypt(token: string, opts?: FernetDecryptOptions): Buffer {
    const decoded = decodeFernetToken(token);
    checkFernetTokenTime(decoded, opts);
    return this.#open(decoded);
  }

  /** {@link decrypt} then strict UTF-8 decoding (a `TypeError` if the bytes are not UTF-8). */
  decryptString(token: string, opts?: FernetDecryptOptions): string {
    return decodeUtf8(this.decrypt(token, opts));
  }

  /**
   * Decrypts with any key (no TTL check) and encrypts the plaintext again under the
   * first key with a fresh IV, keeping the original timestamp. Throws
   * {@link InvalidFernetTokenError} when no key of the ring opens the token.
   */
  rotate(token: string): string {
    const decoded = decodeFernetToken(token);
    const plaintext = this.#open(decoded);
    return this.#keys[0].seal(plaintext, decoded.bytes.subarray(1, 9), randomBytes(16));
  }

  /**
   * Whether the token is valid under the first key already (then {@link rotate} has
   * nothing to do). False for any token the first key does not open, including
   * malformed ones; never throws for a bad token.
   */
  isCurrent(token: string): boolean {
    try {
      return this.#keys[0].open(decodeFernetToken(token)) !== undefined;
    } catch (err) {
      if (err instanceof InvalidFernetTokenError) return false;
      throw err;
    }
  }

  #open(decoded: DecodedFernetToken): Buffer {
    for (const key of this.#keys) {
      const plaintext = key.open(decoded);
      if (plaintext !== undefined) return plaintext;
    }
    throw new InvalidFernetTokenError();
  }
}
