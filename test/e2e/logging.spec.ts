import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenantRow } from '../support/db.js';
import { startApi, type RunningApi } from '../support/apps.js';

// What a careless client might send. None of it may reach a log line.
const PASSWORD = 'hunter2-Pa55word!';
const BEARER = 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.sig-4f1c2b';
const SESSION =
  '1BVtsOKABu' + 'Q29uc2lkZXIgdGhpcyBhIHRlbGVncmFtIHNlc3Npb24gc3RyaW5nIGZvciB0ZXN0cw'.repeat(5);
const COOKIE = 'sid=cookie-secret-7781';

describe('logs never carry credentials or sessions', () => {
  let api: RunningApi;
  let tenant: string;

  beforeAll(async () => {
    api = await startApi({ LOG_LEVEL: 'trace' });
    tenant = await createTenantRow('Logging');
  });
  afterAll(() => api.close());

  it('a request carrying a password, a bearer token and a session string', async () => {
    const headers = { authorization: `Bearer ${BEARER}`, cookie: COOKIE, 'x-api-key': BEARER };
    // Rejected input (the error names the keys, not their values)...
    const rejected = await api.request(
      'POST',
      `/v1/leads?password=${encodeURIComponent(PASSWORD)}&session=${SESSION}`,
      {
        tenant,
        headers,
        body: { displayName: 'x', password: PASSWORD, sessionString: SESSION, token: BEARER },
      },
    );
    // The bearer token is not a valid credential: refused before the body is read.
    expect(rejected.status).toBe(401);
    const { authorization: _bearer, ...withoutBearer } = headers;
    const invalid = await api.request(
      'POST',
      `/v1/leads?password=${encodeURIComponent(PASSWORD)}&session=${SESSION}`,
      {
        tenant,
        headers: withoutBearer,
        body: { displayName: 'x', password: PASSWORD, sessionString: SESSION, token: BEARER },
      },
    );
    expect(invalid.status).toBe(400);
    // A sign-in with the password (refused: no such account).
    const login = await api.request('POST', '/v1/auth/login', {
      headers,
      body: { email: 'nobody@example.com', password: PASSWORD },
    });
    expect(login.status).toBe(401);
    // ...accepted input, an unknown route, and a failing tenant check.
    await api.request('POST', '/v1/leads', {
      tenant,
      headers,
      body: { displayName: `pw ${PASSWORD}`.slice(0, 20) },
    });
    await api.request('GET', `/nowhere/${SESSION}?token=${BEARER}`, { headers });
    await api.request('GET', '/v1/leads', { tenant: SESSION.slice(0, 36), headers });

    const text = api.logs.text;
    expect(api.logs.lines.length).toBeGreaterThan(3);
    for (const secret of [PASSWORD, BEARER, SESSION, SESSION.slice(0, 60), 'cookie-secret-7781']) {
      expect(text).not.toContain(secret);
    }
    // The requests were logged, with what is safe to keep.
    expect(text).toContain('"method":"POST"');
    expect(text).toContain('[REDACTED]');
  });
});
