import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import { z } from 'zod';

/**
 * A lead's identities and contact fields, normalised the one way the whole product
 * compares them: the API, imports, merges and duplicate detection all go through
 * these functions (and the zod fields built on them), so two spellings of one
 * identity can never become two leads.
 */
export type Normalised<T> = { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T): Normalised<T> => ({ ok: true, value });
const bad = (message: string): Normalised<never> => ({ ok: false, message });

/** Largest Telegram user id PostgreSQL's bigint holds (Telegram ids are 64-bit). */
const MAX_BIGINT = 9_223_372_036_854_775_807n;

/** A Telegram user id as a decimal string (64-bit values do not fit a JS number). */
export function normaliseTelegramUserId(input: string | number | bigint): Normalised<string> {
  const text = typeof input === 'string' ? input.trim() : String(input);
  if (!/^[0-9]{1,19}$/.test(text)) return bad('must be a positive integer (a Telegram user id)');
  const id = BigInt(text);
  if (id < 1n || id > MAX_BIGINT) return bad('is out of range for a Telegram user id');
  return ok(id.toString());
}

/**
 * A Telegram username without `@` (a t.me link is accepted too). Telegram allows
 * 5 to 32 letters, digits and underscores, starting with a letter; older and
 * auctioned names can be 4 long. Case is kept for display; comparisons are
 * case-insensitive (the column is citext).
 */
export function normaliseUsername(input: string): Normalised<string> {
  const text = input
    .trim()
    .replace(/^(?:https?:\/\/)?(?:www\.)?(?:t\.me|telegram\.me)\//i, '')
    .replace(/^@/, '');
  if (!/^[A-Za-z][A-Za-z0-9_]{3,31}$/.test(text) || text.endsWith('_')) {
    return bad('must be a Telegram username: 4 to 32 letters, digits or underscores');
  }
  return ok(text);
}

const emailShape = z.email();

/** Trimmed and lower-cased; the local part's case is not significant in practice. */
export function normaliseEmail(input: string): Normalised<{ email: string; local: string }> {
  const email = input.trim().toLowerCase();
  if (email.length > 254 || !emailShape.safeParse(email).success) {
    return bad('must be an e-mail address');
  }
  return ok({ email, local: email.slice(0, email.lastIndexOf('@')) });
}

/** `00` (or `(00`) opening a phone number: the international prefix. */
const INTERNATIONAL_00 = /^(\(?\s*)00\s*/;

/**
 * E.164 (`+447911123456`), from any common way of writing a number. A number
 * without an international prefix needs `defaultCountry` (the lead's country).
 * `national` is the national significant number: the same digits written under
 * another country code still match as a likely duplicate.
 */
export function normalisePhone(
  input: string,
  defaultCountry?: string | null,
): Normalised<{ e164: string; national: string }> {
  const text = input.trim();
  if (text.length > 40) return bad('is too long for a phone number');
  const country =
    defaultCountry && /^[A-Z]{2}$/.test(defaultCountry)
      ? (defaultCountry as CountryCode)
      : undefined;
  let parsed = parsePhoneNumberFromString(text, country);
  if (!parsed?.isValid() && INTERNATIONAL_00.test(text)) {
    // `00` is the international prefix of most countries: without a default country
    // (or with one whose prefix differs, like the US's 011) read it as `+`.
    parsed = parsePhoneNumberFromString(text.replace(INTERNATIONAL_00, '$1+'));
  }
  if (!parsed?.isValid()) {
    return bad(
      country || text.startsWith('+') || text.startsWith('00')
        ? 'is not a valid phone number'
        : 'is not a valid phone number (write it with its country code, +44...)',
    );
  }
  return ok({ e164: parsed.number, national: parsed.nationalNumber });
}

/**
 * Two-letter codes Intl knows that are not countries (groupings, unknown, pseudo
 * locales) or that ISO withdrew (their successors have codes of their own).
 */
const NOT_COUNTRIES = new Set([
  ...['EU', 'EZ', 'UN', 'ZZ', 'QO', 'XA', 'XB'],
  ...['AN', 'BU', 'CS', 'DD', 'FX', 'NT', 'SU', 'TP', 'YU', 'ZR'],
]);
/** Common spellings of a country that ISO writes otherwise. */
const COUNTRY_ALIASES: Readonly<Record<string, string>> = { UK: 'GB' };

/** ISO 3166-1 alpha-2, upper case (`uk` is read as GB). */
export function normaliseCountry(input: string): Normalised<string> {
  const typed = input.trim().toUpperCase();
  const code = COUNTRY_ALIASES[typed] ?? typed;
  if (
    !/^[A-Z]{2}$/.test(code) ||
    NOT_COUNTRIES.has(code) ||
    !regionNames.of(code) ||
    regionNames.of(code) === code
  ) {
    return bad('must be an ISO 3166-1 alpha-2 country code, like GB');
  }
  return ok(code);
}
const regionNames = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' });

/** A BCP 47 language tag in its canonical form (`en`, `pt-BR`). */
export function normaliseLanguage(input: string): Normalised<string> {
  try {
    const [tag] = Intl.getCanonicalLocales(input.trim());
    if (tag && tag.length <= 35) return ok(tag);
  } catch {
    // RangeError: not a well-formed tag.
  }
  return bad('must be a language tag, like en or pt-BR');
}

/** A zod field that normalises with `fn`, or fails naming the field with its message. */
function normalisedField<I, O>(base: z.ZodType<I>, fn: (input: I) => Normalised<O>) {
  return base.transform((input, ctx) => {
    const result = fn(input);
    if (result.ok) return result.value;
    ctx.issues.push({ code: 'custom', message: result.message, input });
    return z.NEVER;
  });
}

export const telegramUserIdField = normalisedField(
  z.union([z.string().max(40), z.number().int(), z.bigint()]),
  normaliseTelegramUserId,
);
export const usernameField = normalisedField(z.string().max(100), normaliseUsername);
export const emailField = normalisedField(z.string().max(320), normaliseEmail);
/** The phone alone (its country comes from the lead: see LeadsService). */
export const phoneTextField = z.string().trim().min(1).max(40);
export const countryField = normalisedField(z.string().max(10), normaliseCountry);
export const languageField = normalisedField(z.string().max(40), normaliseLanguage);

/** Lower-case name, username, phone and e-mail: what the trigram index searches. */
export function searchTextOf(lead: {
  displayName: string;
  telegramUsername?: string | null;
  phone?: string | null;
  email?: string | null;
}): string {
  return [lead.displayName, lead.telegramUsername, lead.phone, lead.email]
    .filter((part): part is string => Boolean(part))
    .join(' ')
    .toLowerCase();
}
