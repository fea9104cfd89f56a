import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { AppConfig, Clock, DomainError, ErrorCode, ValidationError } from '@ibhq/core';

/** Telegram user ids have at most 52 significant bits; JSON numbers are exact up to 2^53 - 1. */
const MAX_ID = Number.MAX_SAFE_INTEGER;
/** How far in the future an auth_date may be (clock skew between Telegram and us). */
const MAX_FUTURE_SECONDS = 60;
const HASH = /^[0-9a-fA-F]{64}$/;

const shape = {
  // A number in the widget's JavaScript callback, a string in its redirect mode.
  id: z
    .union([
      z.number().int().min(1).max(MAX_ID),
      z
        .string()
        .regex(/^[1-9]\d{0,15}$/, 'must be a positive integer')
        .refine((s) => Number(s) <= MAX_ID, 'must be at most 2^53 - 1'),
    ])
    .transform((v) => BigInt(v)),
  first_name: z.string().min(1).max(256).optional(),
  last_name: z.string().min(1).max(256).optional(),
  username: z
    .string()
    .regex(/^[A-Za-z0-9_]{5,32}$/, 'must be 5 to 32 letters, digits or underscores')
    .optional(),
  photo_url: z
    .url({ protocol: /^https$/ })
    .max(2048)
    .optional(),
  auth_date: z
    .union([
      z.number().int().min(0).max(MAX_ID),
      z.string().regex(/^\d{1,15}$/, 'must be an integer number of seconds'),
    ])
    .transform((v) => Number(v)),
  hash: z.string().regex(HASH, 'must be 64 hexadecimal characters'),
};

/** The body of a Telegram Login Widget sign-in, as the dashboard posts it. */
export const telegramLoginBody = z.strictObject(shape);
export type TelegramLoginBody = z.infer<typeof telegramLoginBody>;

/**
 * After the hash has proven that Telegram sent the data, fields Telegram may add in
 * the future are ignored rather than refused.
 */
const signedBody = z.object(shape);

export interface TelegramIdentity {
  telegramUserId: bigint;
  username: string | null;
  firstName: string | null;
  lastName: string | null;
  authDate: Date;
}

/**
 * The `hash` Telegram computes for Login Widget data
 * (https://core.telegram.org/widgets/login#checking-authorization): every field but
 * `hash`, sorted by key, as `key=value` lines joined by "\n", HMAC-SHA-256 keyed by the
 * SHA-256 of the bot token, in hex. The verifier uses this very function.
 */
export function signTelegramLogin(
  botToken: string,
  fields: Readonly<Record<string, string | number>>,
): string {
  const dataCheckString = Object.keys(fields)
    .filter((key) => key !== 'hash')
    .sort()
    .map((key) => `${key}=${String(fields[key])}`)
    .join('\n');
  const secret = createHash('sha256').update(botToken).digest();
  return createHmac('sha256', secret).update(dataCheckString).digest('hex');
}

function invalidFields(error: z.ZodError): ValidationError {
  return new ValidationError(
    error.issues.map((issue) => ({
      field: issue.path.map(String).join('.') || 'body',
      message: issue.message,
    })),
  );
}

/**
 * Checks a Telegram Login Widget authorisation: its hash (with the bot token from the
 * environment, which is never logged nor echoed) and its age.
 */
@Injectable()
export class TelegramLoginVerifier {
  readonly #botToken: string | undefined;
  private readonly maxAgeSeconds: number;

  constructor(
    config: AppConfig,
    private readonly clock: Clock,
  ) {
    // A private field: the token does not show when the object is logged or inspected.
    this.#botToken = config.auth.telegramBotToken;
    this.maxAgeSeconds = config.auth.telegramLoginMaxAgeSeconds;
  }

  /** Whether a bot token is configured (Telegram sign-in is offered). */
  get enabled(): boolean {
    return this.#botToken !== undefined;
  }

  /**
   * The identity in `fields`, the fields exactly as received (their raw values: the
   * hash covers them as Telegram sent them). Throws NOT_FOUND when Telegram sign-in is
   * off, VALIDATION_FAILED for malformed fields, UNAUTHENTICATED for a wrong hash or
   * an expired or future-dated authorisation.
   */
  verify(fields: Readonly<Record<string, string | number>>): TelegramIdentity {
    const botToken = this.#botToken;
    if (botToken === undefined) {
      throw new DomainError(
        ErrorCode.NotFound,
        'Telegram sign-in is not enabled on this deployment',
      );
    }
    // The hash is checked over every received field before anything else is parsed:
    // an added or changed field fails the hash, not a schema.
    const received: unknown = fields;
    const raw = z
      .record(z.string(), z.union([z.string().max(4096), z.number()]))
      .safeParse(received);
    if (!raw.success) throw invalidFields(raw.error);
    const hash = raw.data.hash;
    if (typeof hash !== 'string' || !HASH.test(hash)) {
      throw new ValidationError([{ field: 'hash', message: 'must be 64 hexadecimal characters' }]);
    }
    const expected = Buffer.from(signTelegramLogin(botToken, raw.data), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(hash, 'hex'))) {
      throw new DomainError(ErrorCode.Unauthenticated, 'the Telegram authorisation is not valid');
    }

    const parsed = signedBody.safeParse(raw.data);
    if (!parsed.success) throw invalidFields(parsed.error);
    const body = parsed.data;
    const ageSeconds = this.clock.nowMs() / 1000 - body.auth_date;
    if (ageSeconds > this.maxAgeSeconds) {
      throw new DomainError(
        ErrorCode.Unauthenticated,
        'the Telegram authorisation has expired; sign in with Telegram again',
      );
    }
    if (ageSeconds < -MAX_FUTURE_SECONDS) {
      throw new DomainError(
        ErrorCode.Unauthenticated,
        'the Telegram authorisation is dated in the future; sign in with Telegram again',
      );
    }
    return {
      telegramUserId: body.id,
      username: body.username ?? null,
      firstName: body.first_name ?? null,
      lastName: body.last_name ?? null,
      authDate: new Date(body.auth_date * 1000),
    };
  }
}
