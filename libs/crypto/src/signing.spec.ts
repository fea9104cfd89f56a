import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  InvalidSignatureError,
  MAX_SIGNED_TOKEN_LENGTH,
  SignatureExpiredError,
  Signer,
} from './signing.js';

const OLD = 'o'.repeat(32) + '-old-signing-key';
const NEW = 'n'.repeat(32) + '-new-signing-key';
const T0 = 1_700_000_000_000;

function b64(json: unknown): string {
  return Buffer.from(JSON.stringify(json)).toString('base64url');
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('Signer: signed links', () => {
  const signer = new Signer([NEW, OLD]);

  it('round-trips a payload and produces a compact URL-safe token', () => {
    const payload = { leadId: 'a1b2', amount: 42, tags: ['x'], nested: { ok: true } };
    const token = signer.sign('checkout', payload, { expiresInSeconds: 600, now: T0 });
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(encodeURIComponent(token)).toBe(token);
    expect(signer.verify('checkout', token, { now: T0 + 1000 })).toEqual(payload);
    const [body] = token.split('.');
    expect(JSON.parse(Buffer.from(body!, 'base64url').toString())).toEqual({
      p: payload,
      exp: T0 / 1000 + 600,
      pur: 'checkout',
    });
  });

  it('rejects a tampered payload, even one re-encoded validly', () => {
    const token = signer.sign('checkout', { amount: 42 }, { expiresInSeconds: 600, now: T0 });
    const [, mac] = token.split('.');
    const forged = `${b64({ p: { amount: 1 }, exp: T0 / 1000 + 600, pur: 'checkout' })}.${mac!}`;
    expect(() => signer.verify('checkout', forged, { now: T0 })).toThrow(InvalidSignatureError);
    for (let i = 0; i < token.length; i++) {
      if (token[i] === '.') continue;
      const tampered = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      expect(() => signer.verify('checkout', tampered, { now: T0 }), `char ${i}`).toThrow(
        InvalidSignatureError,
      );
    }
  });

  it('rejects a tampered MAC', () => {
    const token = signer.sign('invite', { id: 1 }, { expiresInSeconds: 60, now: T0 });
    const [body, mac] = token.split('.');
    const bytes = Buffer.from(mac!, 'base64url');
    bytes[0] = (bytes[0] ?? 0) ^ 0x80;
    expect(() =>
      signer.verify('invite', `${body!}.${bytes.toString('base64url')}`, { now: T0 }),
    ).toThrow(InvalidSignatureError);
    expect(() => signer.verify('invite', `${body!}.${mac!.slice(0, -1)}`, { now: T0 })).toThrow(
      InvalidSignatureError,
    );
  });

  it('never verifies a token for another purpose', () => {
    const token = signer.sign('invite', { id: 1 }, { expiresInSeconds: 60, now: T0 });
    expect(signer.verify('invite', token, { now: T0 })).toEqual({ id: 1 });
    expect(() => signer.verify('checkout', token, { now: T0 })).toThrow(InvalidSignatureError);
    expect(() => signer.verify('invite2', token, { now: T0 })).toThrow(InvalidSignatureError);
  });

  it('rejects an expired token with SignatureExpiredError, at exp and after', () => {
    const token = signer.sign('invite', { id: 1 }, { expiresInSeconds: 60, now: T0 });
    expect(signer.verify('invite', token, { now: T0 + 59_999 })).toEqual({ id: 1 });
    expect(() => signer.verify('invite', token, { now: T0 + 60_000 })).toThrow(
      SignatureExpiredError,
    );
    const err = thrown(() => signer.verify('invite', token, { now: T0 + 3_600_000 }));
    expect(err).toBeInstanceOf(SignatureExpiredError);
    expect(err).not.toBeInstanceOf(InvalidSignatureError);
  });

  it('says "invalid", not "expired", for a forged token that is also expired', () => {
    const forged = `${b64({ p: {}, exp: 1, pur: 'invite' })}.${'A'.repeat(43)}`;
    const err = thrown(() => signer.verify('invite', forged, { now: T0 }));
    expect(err).toBeInstanceOf(InvalidSignatureError);
  });

  it('verifies old-key tokens while the old key stays in the ring', () => {
    const token = new Signer([OLD]).sign('invite', { id: 7 }, { expiresInSeconds: 60, now: T0 });
    expect(new Signer([NEW, OLD]).verify('invite', token, { now: T0 })).toEqual({ id: 7 });
    expect(() => new Signer([NEW]).verify('invite', token, { now: T0 })).toThrow(
      InvalidSignatureError,
    );
    // New tokens use the first key.
    const fresh = signer.sign('invite', { id: 8 }, { expiresInSeconds: 60, now: T0 });
    expect(new Signer([NEW]).verify('invite', fresh, { now: T0 })).toEqual({ id: 8 });
    expect(() => new Signer([OLD]).verify('invite', fresh, { now: T0 })).toThrow(
      InvalidSignatureError,
    );
  });

  it('rejects oversized and garbage input with InvalidSignatureError', () => {
    const token = signer.sign('invite', { id: 1 }, { expiresInSeconds: 60, now: T0 });
    for (const garbage of [
      '',
      '.',
      'abc',
      'a.b.c',
      `${token}.${token.split('.')[1]!}`,
      `.${token.split('.')[1]!}`,
      `${token.split('.')[0]!}.`,
      `${token}=`,
      `${token} `,
      '%%%.%%%',
      `${'a'.repeat(MAX_SIGNED_TOKEN_LENGTH)}.${token.split('.')[1]!}`,
      'x'.repeat(1_000_000),
      42 as unknown as string,
      null as unknown as string,
      ['a.b'] as unknown as string,
    ]) {
      expect(() => signer.verify('invite', garbage, { now: T0 })).toThrow(InvalidSignatureError);
    }
  });

  it('refuses to sign a token it would not accept back, or with bad arguments', () => {
    expect(() =>
      signer.sign(
        'invite',
        { blob: 'x'.repeat(MAX_SIGNED_TOKEN_LENGTH) },
        { expiresInSeconds: 60 },
      ),
    ).toThrow(RangeError);
    expect(() => signer.sign('invite', {}, { expiresInSeconds: 0 })).toThrow(RangeError);
    expect(() => signer.sign('invite', {}, { expiresInSeconds: 1.5 })).toThrow(RangeError);
    expect(() => signer.sign('', {}, { expiresInSeconds: 60 })).toThrow(TypeError);
    expect(() => signer.sign('a\nb', {}, { expiresInSeconds: 60 })).toThrow(TypeError);
    expect(() =>
      signer.sign('invite', [] as unknown as Record<string, unknown>, { expiresInSeconds: 60 }),
    ).toThrow(TypeError);
  });

  it('uses the current time by default', () => {
    const token = signer.sign('invite', { id: 1 }, { expiresInSeconds: 60 });
    expect(signer.verify('invite', token)).toEqual({ id: 1 });
    expect(() => signer.verify('invite', token, { now: Date.now() + 61_000 })).toThrow(
      SignatureExpiredError,
    );
  });

  it('needs at least one key of at least 32 characters and never prints it', () => {
    expect(() => new Signer([])).toThrow(/at least one key/);
    const short = 'short-secret-value';
    const err = thrown(() => new Signer([NEW, short]));
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toContain('#2');
    expect((err as Error).message).not.toContain(short);
  });

  it('uses one error message for every rejection, with no token in it', () => {
    const token = signer.sign('invite', { id: 1 }, { expiresInSeconds: 60, now: T0 });
    const messages = new Set(
      ['garbage', `${token}x`].map((bad) => {
        const err = thrown(() => signer.verify('checkout', bad, { now: T0 }));
        expect(err).toBeInstanceOf(InvalidSignatureError);
        return (err as Error).message;
      }),
    );
    expect([...messages]).toEqual(['invalid signature']);
  });
});

describe('Signer: webhooks', () => {
  const signer = new Signer([NEW, OLD]);
  const body = JSON.stringify({ event: 'lead.created', id: 'L1', name: 'Zoë' });

  it('signs in the Stripe format and verifies', () => {
    const header = signer.signWebhook(body, { now: T0 });
    const expected = createHmac('sha256', NEW)
      .update(`${T0 / 1000}.${body}`)
      .digest('hex');
    expect(header).toBe(`t=${T0 / 1000},v1=${expected}`);
    expect(() => {
      signer.verifyWebhook(body, header, { now: T0 + 5_000 });
    }).not.toThrow();
    expect(() => {
      signer.verifyWebhook(Buffer.from(body), header, { now: T0 });
    }).not.toThrow();
  });

  it('verifies with the current time by default', () => {
    const header = signer.signWebhook(Buffer.from(body));
    expect(() => {
      signer.verifyWebhook(body, header);
    }).not.toThrow();
  });

  it('rejects a tampered body', () => {
    const header = signer.signWebhook(body, { now: T0 });
    expect(() => {
      signer.verifyWebhook(body.replace('L1', 'L2'), header, { now: T0 });
    }).toThrow(InvalidSignatureError);
    expect(() => {
      signer.verifyWebhook(`${body} `, header, { now: T0 });
    }).toThrow(InvalidSignatureError);
  });

  it('rejects a changed timestamp (it is covered by the MAC)', () => {
    const header = signer.signWebhook(body, { now: T0 });
    const moved = header.replace(`t=${T0 / 1000}`, `t=${T0 / 1000 + 1}`);
    expect(() => {
      signer.verifyWebhook(body, moved, { now: T0 });
    }).toThrow(InvalidSignatureError);
  });

  it('rejects a timestamp outside the tolerance, in the past or the future', () => {
    const header = signer.signWebhook(body, { now: T0 });
    expect(() => {
      signer.verifyWebhook(body, header, { now: T0 + 300_000 });
    }).not.toThrow();
    expect(() => {
      signer.verifyWebhook(body, header, { now: T0 + 301_000 });
    }).toThrow(InvalidSignatureError);
    expect(() => {
      signer.verifyWebhook(body, header, { now: T0 - 301_000 });
    }).toThrow(InvalidSignatureError);
    expect(() => {
      signer.verifyWebhook(body, header, { now: T0 + 30_000, toleranceSeconds: 10 });
    }).toThrow(InvalidSignatureError);
  });

  it('tries every key of the ring and several v1 signatures', () => {
    const old = new Signer([OLD]).signWebhook(body, { now: T0 });
    expect(() => {
      signer.verifyWebhook(body, old, { now: T0 });
    }).not.toThrow();
    expect(() => {
      new Signer([NEW]).verifyWebhook(body, old, { now: T0 });
    }).toThrow(InvalidSignatureError);
    const stranger = new Signer(['s'.repeat(40)]).signWebhook(body, { now: T0 });
    const both = `${stranger},${old.split(',')[1]!}`;
    expect(() => {
      signer.verifyWebhook(body, both, { now: T0 });
    }).not.toThrow();
    expect(() => {
      signer.verifyWebhook(body, stranger, { now: T0 });
    }).toThrow(InvalidSignatureError);
  });

  it('rejects missing, malformed or garbage headers', () => {
    const header = signer.signWebhook(body, { now: T0 });
    const [t, v1] = header.split(',') as [string, string];
    for (const bad of [
      '',
      'garbage',
      t,
      v1,
      `${t},${t},${v1}`,
      `${t},v1=${v1.slice(3, -1)}`,
      `${t},v1=${v1.slice(3)}00`,
      `${t},v0=${v1.slice(3)}`,
      `t=-1,${v1}`,
      `t=1e9,${v1}`,
      `t=,${v1}`,
      `${t},${v1},=x`,
      `${t},${v1},`,
      `${t},${v1},${'x'.repeat(2000)}`,
      undefined as unknown as string,
      {} as unknown as string,
    ]) {
      expect(() => {
        signer.verifyWebhook(body, bad, { now: T0 });
      }, JSON.stringify(bad)).toThrow(InvalidSignatureError);
    }
  });

  it('a webhook signature is not a signed-link token, nor the reverse', () => {
    const token = signer.sign('webhook', { a: 1 }, { expiresInSeconds: 60, now: T0 });
    const [payload, mac] = token.split('.') as [string, string];
    const header = `t=${T0 / 1000},v1=${Buffer.from(mac, 'base64url').toString('hex')}`;
    expect(() => {
      signer.verifyWebhook(payload, header, { now: T0 });
    }).toThrow(InvalidSignatureError);
  });
});
