import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '../support/apps.js';
import { ACCOUNTS_ENV, bearer, login, signup, type SignedUp } from '../support/accounts.js';
import { controllersOf, routeName, routesOf, type Route } from './access-routes.js';

// Every endpoint answers malformed, oversized or hostile input with a 4xx that names the
// problem, never a 500, and changes nothing it should not.

const HOSTILE_BODIES: readonly [string, string][] = [
  ['an array', '[1,2,3]'],
  ['null', 'null'],
  ['a string', '"hello"'],
  ['a number', '12345'],
  ['broken JSON', '{"email": '],
  [
    'a prototype pollution attempt',
    '{"__proto__": {"role": "owner"}, "constructor": {"prototype": {"x": 1}}}',
  ],
  [
    'wrong types everywhere',
    JSON.stringify({
      email: 1,
      password: [],
      role: {},
      name: null,
      token: false,
      tenantId: 7,
      scopes: 'all',
      code: 123456,
      telegram: [],
    }),
  ],
  [
    'NUL and lone surrogates',
    JSON.stringify({
      email: 'a\u0000@example.com',
      name: '\ud800',
      reason: '\u0000'.repeat(20),
      displayName: '\udfff',
    }),
  ],
  [
    'huge strings',
    JSON.stringify({
      email: `${'a'.repeat(300_000)}@example.com`,
      password: 'p'.repeat(300_000),
      name: 'n'.repeat(300_000),
    }),
  ],
  ['deep nesting', `${'{"a":'.repeat(2_000)}1${'}'.repeat(2_000)}`],
];

const HOSTILE_PARAMS = [
  'not-a-uuid',
  "1' OR '1'='1",
  '%00',
  '..%2F..%2Fetc%2Fpasswd',
  'x'.repeat(300),
];
const HOSTILE_QUERIES = [
  'limit=-1',
  'limit=abc',
  'cursor=%00%00',
  'cursor=' + 'A'.repeat(2_000),
  // Well-formed cursors holding NUL (which PostgreSQL refuses in text) or a non-UUID id.
  'cursor=' + Buffer.from(JSON.stringify(['a\u0000b'])).toString('base64url'),
  'cursor=' +
    Buffer.from(JSON.stringify(['2026-01-01T00:00:00Z', 'a\u0000b'])).toString('base64url'),
  'limit=1&limit=2',
  'format=exe',
];

describe('hostile input on every route', () => {
  let api: RunningApi;
  let routes: Route[];
  let owner: SignedUp;

  beforeAll(async () => {
    api = await startApi(ACCOUNTS_ENV);
    routes = routesOf(controllersOf(api.app));
    owner = await signup(api);
  });
  afterAll(() => api.close());

  /** A fresh session of the owner: some routes end the session that calls them. */
  async function session(): Promise<Record<string, string>> {
    const res = await login(api, { email: owner.email, password: owner.password });
    expect(res.status).toBe(200);
    return bearer(res.token);
  }

  const withParams = (path: string, value: string) => path.replace(/:[A-Za-z]+/g, value);

  it('never answers 500 to a hostile body, and names the problem', async () => {
    expect(routes.length).toBeGreaterThan(25);
    const failures: string[] = [];
    for (const route of routes.filter((r) =>
      ['POST', 'PATCH', 'PUT', 'DELETE'].includes(r.method),
    )) {
      const headers = {
        ...(await session()),
        'content-type': 'application/json',
        'x-forwarded-for': `10.9.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`,
      };
      for (const [name, body] of HOSTILE_BODIES) {
        const path = withParams(route.path, '00000000-0000-4000-8000-000000000000');
        const res = await fetch(api.url + path, { method: route.method, headers, body });
        const text = await res.text();
        if (res.status >= 500 || res.status < 400) {
          // 2xx is acceptable only for routes that take no body (the body is ignored).
          if (
            res.status >= 500 ||
            !/logout|2fa\/enrol|telegram\/link|DELETE/.test(`${route.method} ${route.path}`)
          ) {
            failures.push(`${routeName(route)} with ${name}: ${res.status} ${text.slice(0, 120)}`);
          }
          continue;
        }
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        if (!parsed.error?.code || !parsed.error.message) {
          failures.push(`${routeName(route)} with ${name}: no error code or message`);
        }
      }
    }
    expect(failures).toEqual([]);
  }, 300_000);

  it('never answers 500 to hostile path parameters or query strings', async () => {
    const headers = await session();
    const failures: string[] = [];
    for (const route of routes.filter((r) => r.method === 'GET' || r.path.includes(':'))) {
      if (/logout/.test(route.path)) continue;
      const paths = route.path.includes(':')
        ? HOSTILE_PARAMS.map((p) => withParams(route.path, p))
        : [route.path];
      for (const path of paths) {
        for (const query of ['', ...HOSTILE_QUERIES]) {
          const res = await api.request(route.method, `${path}${query ? `?${query}` : ''}`, {
            headers,
            ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { body: {} }),
          });
          if (res.status >= 500)
            failures.push(
              `${route.method} ${path}?${query}: ${res.status} ${res.text.slice(0, 120)}`,
            );
        }
      }
    }
    expect(failures).toEqual([]);
  }, 300_000);

  it('refuses a body over the limit with 413, and a non-JSON body with 415', async () => {
    const big = JSON.stringify({ email: 'a@example.com', password: 'x'.repeat(2 * 1024 * 1024) });
    const tooBig = await fetch(`${api.url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: big,
    });
    expect(tooBig.status).toBe(413);
    const form = await fetch(`${api.url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'email=a&password=b',
    });
    expect(form.status).toBe(415);
  });

  it('changes nothing: the owner is still the only member and owner', async () => {
    const members = await api.request('GET', '/v1/members', { headers: await session() });
    expect((members.body as { items: { role: string }[] }).items.map((m) => m.role)).toEqual([
      'owner',
    ]);
  });
});
