import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '../support/apps.js';
import {
  ACCOUNTS_ENV,
  addMember,
  bearer,
  login,
  signup,
  type SignedUp,
} from '../support/accounts.js';

interface ErrorBody {
  error: { code: string; message: string };
}

const STEP_MS = 30_000;
/** The code of the step `offset` steps from now (distinct codes for distinct steps). */
const codeAt = (secret: string, offset = 0) =>
  new TOTP({ secret: Secret.fromBase32(secret) }).generate({
    timestamp: Date.now() + offset * STEP_MS,
  });

async function enrol(api: RunningApi, user: SignedUp) {
  const started = await api.request('POST', '/v1/auth/2fa/enrol', { headers: bearer(user.token) });
  expect(started.status).toBe(200);
  const { secret, otpauthUrl } = started.body as { secret: string; otpauthUrl: string };
  expect(otpauthUrl).toMatch(/^otpauth:\/\/totp\/IBHQ:/);
  const confirmed = await api.request('POST', '/v1/auth/2fa/verify', {
    headers: bearer(user.token),
    body: { code: codeAt(secret) },
  });
  expect(confirmed.status).toBe(200);
  const { recoveryCodes } = confirmed.body as { recoveryCodes: string[] };
  return { secret, recoveryCodes };
}

describe('two-factor authentication (TOTP)', () => {
  let api: RunningApi;

  beforeAll(async () => {
    api = await startApi(ACCOUNTS_ENV);
  });
  afterAll(() => api.close());

  it('is asked for at sign-in once enrolled, and a code works once', async () => {
    const user = await signup(api);
    const { secret, recoveryCodes } = await enrol(api, user);
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);

    const noCode = await login(api, { email: user.email, password: user.password });
    expect(noCode.status).toBe(401);
    expect((noCode.body as unknown as ErrorBody).error.code).toBe('MFA_REQUIRED');
    expect(noCode.token).toBe('');

    const wrong = await login(api, {
      email: user.email,
      password: user.password,
      totpCode: '000000',
    });
    expect(wrong.status).toBe(401);

    // The enrolment used the current step's code: the next step's is fresh.
    const code = codeAt(secret, 1);
    const ok = await login(api, { email: user.email, password: user.password, totpCode: code });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ session: { twoFactorPassed: true } });
    const replay = await login(api, { email: user.email, password: user.password, totpCode: code });
    expect(replay.status).toBe(401);

    // A wrong password with a right code says nothing about the code.
    const badPassword = await login(api, {
      email: user.email,
      password: 'Not-The-Password-1',
      totpCode: codeAt(secret, -1),
    });
    expect((badPassword.body as unknown as ErrorBody).error.code).toBe('UNAUTHENTICATED');
  });

  it('accepts each recovery code once, in any case and grouping', async () => {
    const user = await signup(api);
    const { recoveryCodes } = await enrol(api, user);
    const code = recoveryCodes[3]!;
    const typed = code.toUpperCase().replace(/-/g, ' ');
    const first = await login(api, {
      email: user.email,
      password: user.password,
      recoveryCode: typed,
    });
    expect(first.status).toBe(200);
    const second = await login(api, {
      email: user.email,
      password: user.password,
      recoveryCode: code,
    });
    expect(second.status).toBe(401);
    const other = await login(api, {
      email: user.email,
      password: user.password,
      recoveryCode: recoveryCodes[4]!,
    });
    expect(other.status).toBe(200);
  });

  it('is turned off with the password and a code, and audited both ways', async () => {
    const user = await signup(api);
    const { secret } = await enrol(api, user);
    const noCode = await api.request('POST', '/v1/auth/2fa/disable', {
      headers: bearer(user.token),
      body: { password: user.password },
    });
    expect(noCode.status).toBe(401);
    const off = await api.request('POST', '/v1/auth/2fa/disable', {
      headers: bearer(user.token),
      body: { password: user.password, code: codeAt(secret, 1) },
    });
    expect(off.status).toBe(204);
    const plain = await login(api, { email: user.email, password: user.password });
    expect(plain.status).toBe(200);
    const events = await api.request('GET', '/v1/audit-events?action=user.*', {
      headers: bearer(user.token),
    });
    expect((events.body as { items: { action: string }[] }).items.map((e) => e.action)).toEqual([
      'user.mfa_disabled',
      'user.mfa_enabled',
    ]);
  });

  it('refuses a code that does not match during enrolment, leaving 2FA off', async () => {
    const user = await signup(api);
    await api.request('POST', '/v1/auth/2fa/enrol', { headers: bearer(user.token) });
    const bad = await api.request('POST', '/v1/auth/2fa/verify', {
      headers: bearer(user.token),
      body: { code: '123456' },
    });
    expect(bad.status).toBe(400);
    const malformed = await api.request('POST', '/v1/auth/2fa/verify', {
      headers: bearer(user.token),
      body: { code: '12ab' },
    });
    expect(malformed.status).toBe(400);
    const me = await api.request('GET', '/v1/auth/me', { headers: bearer(user.token) });
    expect(me.body).toMatchObject({ user: { twoFactorEnabled: false } });
  });

  describe('"2FA required" for owners', () => {
    it('blocks owners without 2FA from tenant routes until they enrol; others are not affected', async () => {
      const owner = await signup(api);
      const admin = await addMember(api, owner, 'admin');
      const on = await api.request('PATCH', '/v1/tenant/settings', {
        headers: bearer(owner.token),
        body: { require2faForOwners: true },
      });
      expect(on.status).toBe(200);
      expect(on.body).toMatchObject({ require2faForOwners: true });

      const blocked = await api.request('GET', '/v1/leads', { headers: bearer(owner.token) });
      expect(blocked.status).toBe(403);
      expect((blocked.body as ErrorBody).error.code).toBe('MFA_ENROLMENT_REQUIRED');
      expect((await api.request('GET', '/v1/leads', { headers: bearer(admin.token) })).status).toBe(
        200,
      );

      // Enrolment itself stays open, and passing it unblocks this session.
      const { secret } = await enrol(api, owner);
      expect((await api.request('GET', '/v1/leads', { headers: bearer(owner.token) })).status).toBe(
        200,
      );
      // Turning 2FA off is refused while the tenant requires it.
      const off = await api.request('POST', '/v1/auth/2fa/disable', {
        headers: bearer(owner.token),
        body: { password: owner.password, code: codeAt(secret, 1) },
      });
      expect(off.status).toBe(403);
      const events = await api.request('GET', '/v1/audit-events?action=tenant.settings_changed', {
        headers: bearer(owner.token),
      });
      expect((events.body as { items: { metadata: unknown }[] }).items[0]!.metadata).toEqual({
        require2faForOwners: true,
      });
    });
  });
});
