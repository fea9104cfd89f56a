import { randomUUID } from 'node:crypto';
import { FernetKeyRing } from '@ibhq/crypto';
import type { RunningApi } from './apps.js';
import { sql } from './db.js';

/** A password that passes the policy (long, not common). */
export const GOOD_PASSWORD = 'Quiet-Harbour-Lantern-42';

/** A fresh client address per call, so the per-IP limits of one test never meet another's. */
export function freshIp(): string {
  const b = () => Math.floor(Math.random() * 250) + 1;
  return `10.${b()}.${b()}.${b()}`;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export interface SignedUp {
  readonly token: string;
  readonly tenantId: string;
  readonly userId: string;
  readonly email: string;
  readonly password: string;
}

/** Signs up a new tenant and its owner through the API (start the API with TRUST_PROXY=true). */
export async function signup(
  api: RunningApi,
  overrides: Partial<{
    email: string;
    tenantName: string;
    displayName: string;
    password: string;
  }> = {},
): Promise<SignedUp> {
  const email = overrides.email ?? `owner-${randomUUID().slice(0, 8)}@example.com`;
  const password = overrides.password ?? GOOD_PASSWORD;
  const res = await api.request('POST', '/v1/auth/signup', {
    headers: { 'x-forwarded-for': freshIp() },
    body: {
      tenantName: overrides.tenantName ?? 'Acme Introducers',
      displayName: overrides.displayName ?? 'Olga Owner',
      email,
      password,
    },
  });
  if (res.status !== 201) throw new Error(`signup: ${res.status} ${res.text}`);
  const body = res.body as {
    token: string;
    session: { tenantId: string };
    user: { id: string };
  };
  return {
    token: body.token,
    tenantId: body.session.tenantId,
    userId: body.user.id,
    email,
    password,
  };
}

export async function login(
  api: RunningApi,
  body: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers; token: string }> {
  const res = await api.request('POST', '/v1/auth/login', {
    headers: { 'x-forwarded-for': freshIp() },
    body,
  });
  const parsed = (res.body ?? {}) as Record<string, unknown>;
  return {
    status: res.status,
    body: parsed,
    headers: res.headers,
    token: typeof parsed.token === 'string' ? parsed.token : '',
  };
}

/** The invitation link's token, read from the outbox e-mail (decrypted with the run's keys). */
export async function invitationToken(tenantId: string, email: string): Promise<string> {
  const { rows } = await sql<{ bodyEncrypted: string }>(
    'admin',
    `SELECT "bodyEncrypted" FROM "OutboxEmail" WHERE "tenantId" = $1 AND "to" = $2
      ORDER BY "createdAt" DESC, id DESC LIMIT 1`,
    [tenantId, email],
  );
  const row = rows[0];
  if (!row) throw new Error(`no outbox e-mail to ${email}`);
  const text = new FernetKeyRing(process.env.FERNET_KEYS!.split(',')).decryptString(
    row.bodyEncrypted,
  );
  const token = /token=([A-Za-z0-9_.-]+)/.exec(text)?.[1];
  if (!token) throw new Error('no token in the invitation e-mail');
  return token;
}

/**
 * Adds a member with `role` to the owner's tenant (invitation, acceptance, sign-in)
 * and returns their session token in that tenant.
 */
export async function addMember(
  api: RunningApi,
  owner: SignedUp,
  role: 'owner' | 'admin' | 'agent' | 'viewer',
): Promise<{ token: string; userId: string; email: string; membershipId: string }> {
  const email = `${role}-${randomUUID().slice(0, 8)}@example.com`;
  const invited = await api.request('POST', '/v1/invitations', {
    headers: bearer(owner.token),
    body: { email, role },
  });
  if (invited.status !== 201) throw new Error(`invite: ${invited.status} ${invited.text}`);
  const token = await invitationToken(owner.tenantId, email);
  const accepted = await api.request('POST', '/v1/invitations/accept', {
    headers: { 'x-forwarded-for': freshIp() },
    body: { token, password: GOOD_PASSWORD, displayName: `${role} member` },
  });
  if (accepted.status !== 200) throw new Error(`accept: ${accepted.status} ${accepted.text}`);
  const { userId } = accepted.body as { userId: string };
  const signedIn = await login(api, { email, password: GOOD_PASSWORD, tenantId: owner.tenantId });
  if (signedIn.status !== 200) throw new Error(`login: ${signedIn.status}`);
  const members = await api.request('GET', '/v1/members', { headers: bearer(owner.token) });
  const membershipId = (members.body as { items: { id: string; userId: string }[] }).items.find(
    (m) => m.userId === userId,
  )?.id;
  if (!membershipId) throw new Error('the new member is not listed');
  return { token: signedIn.token, userId, email, membershipId };
}

/** Creates an API key with `scopes` in the owner's tenant; returns the key. */
export async function createApiKey(
  api: RunningApi,
  owner: SignedUp,
  scopes: readonly string[],
): Promise<{ key: string; id: string }> {
  const res = await api.request('POST', '/v1/api-keys', {
    headers: bearer(owner.token),
    body: { name: `key ${scopes.join(' ')}`, scopes },
  });
  if (res.status !== 201) throw new Error(`api key: ${res.status} ${res.text}`);
  const body = res.body as { key: string; apiKey: { id: string } };
  return { key: body.key, id: body.apiKey.id };
}

/** The test-run environment the accounts tests start the API with. */
export const ACCOUNTS_ENV = { TRUST_PROXY: 'true', BCRYPT_COST: '4' } as const;
