import fc from 'fast-check';
import {
  getExampleNumber,
  parsePhoneNumberFromString,
  type CountryCode,
} from 'libphonenumber-js/max';
import examples from 'libphonenumber-js/mobile/examples';
import { describe, expect, it } from 'vitest';
import {
  normaliseCountry,
  normaliseEmail,
  normaliseLanguage,
  normalisePhone,
  normaliseTelegramUserId,
  normaliseUsername,
  searchTextOf,
  type Normalised,
} from './identity.js';

const value = <T>(n: Normalised<T>): T => {
  if (!n.ok) throw new Error(`expected a value, got: ${n.message}`);
  return n.value;
};

// --- phones ---------------------------------------------------------------------------

const COUNTRIES: CountryCode[] = [
  'GB',
  'DE',
  'FR',
  'ES',
  'IT',
  'NL',
  'PL',
  'RU',
  'UA',
  'TR',
  'AE',
  'SA',
  'NG',
  'ZA',
  'KE',
  'IN',
  'PK',
  'ID',
  'MY',
  'TH',
  'VN',
  'PH',
  'BR',
  'MX',
  'AR',
  'CO',
  'US',
  'CA',
  'AU',
  'JP',
];

/** A valid mobile number: a country's example with its last digits replaced. */
const validNumber = fc
  .record({
    country: fc.constantFrom(...COUNTRIES),
    tail: fc.integer({ min: 0, max: 9999 }),
  })
  .map(({ country, tail }) => {
    const example = getExampleNumber(country, examples);
    if (!example) throw new Error(`no example number for ${country}`);
    const nsn = example.nationalNumber;
    const digits = nsn.slice(0, -4) + String(tail).padStart(4, '0');
    const parsed = parsePhoneNumberFromString(`+${example.countryCallingCode}${digits}`);
    return {
      country,
      callingCode: example.countryCallingCode,
      parsed,
    };
  })
  .filter(({ parsed }) => parsed?.isValid() === true)
  .map(({ country, callingCode, parsed }) => ({
    country,
    callingCode,
    e164: parsed?.number ?? '',
    nsn: parsed?.nationalNumber ?? '',
    national: parsed?.formatNational() ?? '',
  }));

const separator = fc.constantFrom(' ', '-', '.', '', ' - ', '  ');

/** `digits` cut into chunks of 1 to 4, joined by arbitrary separators. */
function chunked(digits: string) {
  return fc
    .array(fc.tuple(fc.integer({ min: 1, max: 4 }), separator), { minLength: digits.length })
    .map((cuts) => {
      let out = '';
      let at = 0;
      for (const [size, sep] of cuts) {
        if (at >= digits.length) break;
        out += (at === 0 ? '' : sep) + digits.slice(at, at + size);
        at += size;
      }
      return out;
    });
}

/** An international spelling: +CC or 00CC, chunks, separators, brackets, whitespace. */
const internationalSpelling = validNumber.chain((n) =>
  fc
    .record({
      prefix: fc.constantFrom('+', '00', '+ ', '00 ', '(+', '(00'),
      gap: separator,
      body: chunked(n.nsn),
      pad: fc.constantFrom('', ' ', '\t', '  \n'),
      withCountry: fc.boolean(),
    })
    .map(({ prefix, gap, body, pad, withCountry }) => {
      const cc = prefix.startsWith('(') ? `${prefix}${n.callingCode})` : prefix + n.callingCode;
      return {
        n,
        text: `${pad}${cc}${prefix.startsWith('(') ? ' ' : gap}${body}${pad}`,
        country: withCountry ? n.country : undefined,
      };
    }),
);

/** The national way of writing it, with its separators changed, read with the country. */
const nationalSpelling = validNumber.chain((n) =>
  fc.constantFrom(' ', '-', '.', '').map((sep) => ({
    n,
    text: n.national.replace(/ /g, sep),
    country: n.country,
  })),
);

describe('normalisePhone (property-based)', () => {
  it('any international spelling of a valid number gives the same E.164', () => {
    fc.assert(
      fc.property(internationalSpelling, ({ n, text, country }) => {
        const result = value(normalisePhone(text, country));
        expect(result).toEqual({ e164: n.e164, national: n.nsn });
      }),
      { numRuns: 500 },
    );
  });

  it('the national spelling with the lead’s country gives the same E.164', () => {
    fc.assert(
      fc.property(nationalSpelling, ({ n, text, country }) => {
        expect(value(normalisePhone(text, country)).e164).toBe(n.e164);
      }),
      { numRuns: 300 },
    );
  });

  it('is idempotent: a normalised number normalises to itself, with or without a country', () => {
    fc.assert(
      fc.property(validNumber, fc.constantFrom(...COUNTRIES, undefined), (n, country) => {
        const once = value(normalisePhone(n.e164, country));
        expect(value(normalisePhone(once.e164, country))).toEqual(once);
        expect(once.e164).toBe(n.e164);
      }),
      { numRuns: 300 },
    );
  });

  it('never accepts what is not a valid number, and never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), fc.constantFrom('GB', 'US', undefined), (s, c) => {
        const result = normalisePhone(s, c);
        if (result.ok) {
          expect(result.value.e164).toMatch(/^\+[1-9][0-9]{6,14}$/);
          expect(parsePhoneNumberFromString(result.value.e164)?.isValid()).toBe(true);
        } else {
          expect(result.message).toMatch(/phone number/);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('examples: 00 prefix without a country, UK trunk (0), a national number needs a country', () => {
    expect(value(normalisePhone('0044 7400 123456')).e164).toBe('+447400123456');
    expect(value(normalisePhone('(0044) 7400 123456')).e164).toBe('+447400123456');
    expect(value(normalisePhone('00 44 7400 123456', 'US')).e164).toBe('+447400123456');
    expect(value(normalisePhone('011 44 7400 123456', 'US')).e164).toBe('+447400123456');
    expect(value(normalisePhone('+44 (0) 7400 123456')).e164).toBe('+447400123456');
    expect(value(normalisePhone('8 (912) 345-67-89', 'RU')).e164).toBe('+79123456789');
    const national = normalisePhone('07400 123456');
    expect(national.ok).toBe(false);
    if (!national.ok) expect(national.message).toMatch(/country code/);
    expect(normalisePhone('+44 12').ok).toBe(false);
    expect(normalisePhone('1'.repeat(41)).ok).toBe(false);
    expect(value(normalisePhone('+44 7400 123456')).national).toBe('7400123456');
  });
});

// --- usernames ------------------------------------------------------------------------

const USERNAME = /^[A-Za-z][A-Za-z0-9_]{3,31}$/;
const validUsername = fc
  .stringMatching(/^[A-Za-z][A-Za-z0-9_]{3,31}$/)
  .filter((u) => !u.endsWith('_'));

/** Flips the case of some letters. */
const recased = (u: string) =>
  fc
    .array(fc.boolean(), { minLength: u.length, maxLength: u.length })
    .map((flips) =>
      Array.from(u, (ch, i) => (flips[i] ? ch.toUpperCase() : ch.toLowerCase())).join(''),
    );

describe('normaliseUsername (property-based)', () => {
  it('@, case, whitespace and t.me links give the same key', () => {
    fc.assert(
      fc.property(
        validUsername.chain((u) =>
          fc.record({
            u: fc.constant(u),
            spelled: recased(u),
            prefix: fc.constantFrom(
              '',
              '@',
              't.me/',
              'https://t.me/',
              'http://t.me/',
              'https://www.t.me/',
              'https://telegram.me/',
              'T.ME/',
            ),
            pad: fc.constantFrom('', ' ', '\t', ' \n'),
          }),
        ),
        ({ u, spelled, prefix, pad }) => {
          const result = value(normaliseUsername(`${pad}${prefix}${spelled}${pad}`));
          expect(result).toBe(spelled);
          expect(result.toLowerCase()).toBe(u.toLowerCase());
        },
      ),
      { numRuns: 500 },
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(validUsername, (u) => {
        const once = value(normaliseUsername(`@${u}`));
        expect(value(normaliseUsername(once))).toBe(once);
      }),
    );
  });

  it('rejects what is not a username, and accepts only the username shape', () => {
    const invalid = fc.oneof(
      fc.stringMatching(/^@?[A-Za-z][A-Za-z0-9_]{0,2}$/), // too short
      fc.stringMatching(/^@?[0-9_][A-Za-z0-9_]{3,20}$/), // not starting with a letter
      fc.stringMatching(/^@?[A-Za-z][A-Za-z0-9_]{32,40}$/), // too long
      fc.stringMatching(/^@?[A-Za-z][A-Za-z0-9_]{3,10}[^A-Za-z0-9_\s][A-Za-z0-9]{1,5}$/), // bad char
      validUsername.map((u) => `${u.slice(0, 31)}_`), // ends with _
    );
    fc.assert(
      fc.property(invalid, (s) => {
        expect(normaliseUsername(s).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        const result = normaliseUsername(s);
        if (result.ok) expect(result.value).toMatch(USERNAME);
      }),
      { numRuns: 500 },
    );
  });
});

// --- e-mail ---------------------------------------------------------------------------

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?$/);
const validEmail = fc
  .record({
    local: fc
      .array(fc.stringMatching(/^[a-z0-9][a-z0-9_+-]{0,6}$/), { minLength: 1, maxLength: 3 })
      .map((parts) => parts.join('.')),
    domain: fc.array(label, { minLength: 1, maxLength: 3 }),
    tld: fc.stringMatching(/^[a-z]{2,6}$/),
  })
  .map(({ local, domain, tld }) => `${local}@${domain.join('.')}.${tld}`)
  .filter((e) => normaliseEmail(e).ok);

describe('normaliseEmail (property-based)', () => {
  it('case and surrounding whitespace give the same address and local part', () => {
    fc.assert(
      fc.property(
        validEmail.chain((e) =>
          fc.record({
            e: fc.constant(e),
            spelled: recased(e),
            pad: fc.constantFrom('', ' ', '\t', '\n  '),
          }),
        ),
        ({ e, spelled, pad }) => {
          const result = value(normaliseEmail(`${pad}${spelled}${pad}`));
          expect(result).toEqual({ email: e, local: e.slice(0, e.lastIndexOf('@')) });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('is idempotent, and what it accepts is trimmed lower-case', () => {
    fc.assert(
      fc.property(fc.oneof(validEmail, fc.string({ maxLength: 40 })), (s) => {
        const result = normaliseEmail(s);
        if (!result.ok) return;
        expect(result.value.email).toBe(result.value.email.trim().toLowerCase());
        expect(value(normaliseEmail(result.value.email))).toEqual(result.value);
      }),
      { numRuns: 500 },
    );
  });

  it('rejects non-addresses', () => {
    for (const s of ['', 'a', 'a@', '@b.com', 'a b@c.com', 'a@b', `${'a'.repeat(250)}@b.com`]) {
      expect(normaliseEmail(s).ok, s).toBe(false);
    }
  });
});

// --- the other identities and fields --------------------------------------------------

describe('normaliseTelegramUserId', () => {
  it('numbers and their decimal strings give the same id; idempotent', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 9_223_372_036_854_775_807n }), (id) => {
        const fromString = value(normaliseTelegramUserId(` ${id.toString()} `));
        expect(fromString).toBe(id.toString());
        expect(value(normaliseTelegramUserId(id))).toBe(fromString);
        if (id <= BigInt(Number.MAX_SAFE_INTEGER)) {
          expect(value(normaliseTelegramUserId(Number(id)))).toBe(fromString);
        }
        expect(value(normaliseTelegramUserId(fromString))).toBe(fromString);
      }),
    );
  });

  it('rejects zero, negatives, out of range and non-numbers', () => {
    for (const s of ['0', '-5', '9223372036854775808', '1e5', '12a', '', '1.5']) {
      expect(normaliseTelegramUserId(s).ok, s).toBe(false);
    }
    expect(normaliseTelegramUserId(-1).ok).toBe(false);
  });
});

describe('normaliseCountry and normaliseLanguage', () => {
  it('country codes are upper-cased, idempotent; non-countries are refused; UK is GB', () => {
    fc.assert(
      fc.property(fc.constantFrom(...COUNTRIES), (code) => {
        const once = value(normaliseCountry(` ${code.toLowerCase()} `));
        expect(once).toBe(code);
        expect(value(normaliseCountry(once))).toBe(once);
      }),
    );
    expect(value(normaliseCountry('uk'))).toBe('GB');
    for (const s of ['XX', 'EU', 'UN', 'ZZ', 'SU', 'GBR', 'G', '', '12']) {
      expect(normaliseCountry(s).ok, s).toBe(false);
    }
  });

  it('language tags are canonical and idempotent', () => {
    expect(value(normaliseLanguage('PT-br'))).toBe('pt-BR');
    expect(value(normaliseLanguage(' en '))).toBe('en');
    fc.assert(
      fc.property(fc.constantFrom('en', 'ru-RU', 'uk', 'zh-Hant-TW', 'es-419', 'ar'), (tag) => {
        const once = value(normaliseLanguage(tag));
        expect(value(normaliseLanguage(once))).toBe(once);
      }),
    );
    for (const s of ['', 'en_US', '!!', 'x'.repeat(40)]) {
      expect(normaliseLanguage(s).ok, s).toBe(false);
    }
  });
});

describe('searchTextOf', () => {
  it('joins the present parts, lower-cased', () => {
    expect(
      searchTextOf({
        displayName: 'Ivan Petrov',
        telegramUsername: 'IvanP',
        phone: '+447400123456',
        email: null,
      }),
    ).toBe('ivan petrov ivanp +447400123456');
  });
});
