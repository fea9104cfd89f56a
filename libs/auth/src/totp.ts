import { Injectable, Optional } from '@nestjs/common';
import { Secret, TOTP } from 'otpauth';
import { Clock } from '@ibhq/core';
import { FernetKeyRing } from '@ibhq/crypto';
import { RedisConnection } from '@ibhq/redis';

const ISSUER = 'IBHQ';
/** RFC 6238 as every authenticator app reads it: SHA-1, 6 digits, 30 s steps. */
const PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** Steps accepted either side of now (clock drift, a code typed as it changes). */
const WINDOW = 1;
/** A code is valid for at most (2 * WINDOW + 1) steps: remember it as long. */
const USED_SECONDS = (2 * WINDOW + 1) * PARAMS.period;
const CODE = /^\d{6}$/;

/**
 * Time-based one-time passwords (the second factor). The secret is stored only as a
 * Fernet token; a code is accepted once (a replayed code is refused while it is still
 * inside the window).
 */
@Injectable()
export class TotpService {
  constructor(
    private readonly keys: FernetKeyRing,
    private readonly redis: RedisConnection,
    // Optional so that `new TotpService(keys, redis)` works; DI passes the global Clock.
    @Optional() private readonly clock: Clock = new Clock(),
  ) {}

  /** A new 160-bit secret for `label` (the user's e-mail), to show once and store encrypted. */
  generate(label: string): { secret: string; encryptedSecret: string; otpauthUrl: string } {
    const secret = new Secret({ size: 20 });
    const totp = new TOTP({ ...PARAMS, issuer: ISSUER, label, secret });
    return {
      secret: secret.base32,
      encryptedSecret: this.keys.encrypt(secret.base32),
      otpauthUrl: totp.toString(),
    };
  }

  /**
   * Whether `code` is a current code of the secret (±1 step) that this user has not
   * used yet. Spaces in the code are ignored; anything but 6 digits is false.
   */
  async verify(userId: string, encryptedSecret: string, code: string): Promise<boolean> {
    const token = code.replace(/\s+/g, '');
    if (!CODE.test(token)) return false;
    const secret = Secret.fromBase32(this.keys.decryptString(encryptedSecret));
    const delta = TOTP.validate({
      ...PARAMS,
      token,
      secret,
      window: WINDOW,
      timestamp: this.clock.nowMs(),
    });
    if (delta === null) return false;
    // First use wins: SET NX succeeds once per user and code while the code is valid.
    const first = await this.redis.call((redis) =>
      redis.set(this.redis.key('totp-used', userId, token), '1', 'EX', USED_SECONDS, 'NX'),
    );
    return first === 'OK';
  }
}
