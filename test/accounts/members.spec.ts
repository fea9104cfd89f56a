import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Signer } from '@ibhq/crypto';
import { startApi, type RunningApi } from '../support/apps.js';
import {
  ACCOUNTS_ENV,
  addMember,
  bearer,
  createApiKey,
  freshIp,
  GOOD_PASSWORD,
  invitationToken,
  login,
  signup,
} from '../support/accounts.js';
import { sql } from '../support/db.js';

interface ErrorBody {
  error: { code: string; message: string; fields?: { field: string }[] };
}
interface Member {
  id: string;
  userId: string;
  role: string;
  email: string;
}

const members = async (api: RunningApi, token: string): Promise<Member[]> =>
  (
    (await api.request('GET', '/v1/members', { headers: bearer(token) })).body as {
      items: Member[];
    }
  ).items;

describe('members and invitations', () => {
  let api: RunningApi;

  beforeAll(async () => {
    api = await startApi(ACCOUNTS_ENV);
  });
  afterAll(() => api.close());

  describe('invitations', () => {
    it('writes a signed single-use link to the outbox (encrypted) and the log, and accepting creates the membership', async () => {
      const owner = await signup(api);
      const email = `new-${Date.now()}@example.com`;
      const created = await api.request('POST', '/v1/invitations', {
        headers: bearer(owner.token),
        body: { email: email.toUpperCase(), role: 'agent' },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ email, role: 'agent', status: 'pending' });
      expect(created.text).not.toContain('token');

      const { rows } = await sql<{ bodyEncrypted: string; subject: string }>(
        'admin',
        'SELECT "bodyEncrypted", subject FROM "OutboxEmail" WHERE "tenantId" = $1 AND "to" = $2',
        [owner.tenantId, email],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]!.bodyEncrypted).toMatch(/^gAAAAA/); // a Fernet token, not the text
      const token = await invitationToken(owner.tenantId, email);
      // The e-mail is in the log too (development), its single-use link masked.
      const logged = api.logs.lines.find((l) => l.includes('invitation e-mail'));
      expect(logged).toContain('You have been invited');
      expect(logged).toContain('token=[REDACTED]');
      expect(api.logs.text).not.toContain(token);

      const preview = await api.request(
        'GET',
        `/v1/invitations/preview?token=${encodeURIComponent(token)}`,
      );
      expect(preview.body).toMatchObject({ email, role: 'agent', accountExists: false });

      const accepted = await api.request('POST', '/v1/invitations/accept', {
        headers: { 'x-forwarded-for': freshIp() },
        body: { token, password: GOOD_PASSWORD, displayName: 'Nina New' },
      });
      expect(accepted.status).toBe(200);
      expect(accepted.body).toMatchObject({ tenantId: owner.tenantId, role: 'agent' });
      expect((await members(api, owner.token)).map((m) => [m.email, m.role])).toContainEqual([
        email,
        'agent',
      ]);
      const signedIn = await login(api, { email, password: GOOD_PASSWORD });
      expect(signedIn.body).toMatchObject({ session: { tenantId: owner.tenantId, role: 'agent' } });

      // Single use: the second acceptance is 410 and changes nothing.
      const again = await api.request('POST', '/v1/invitations/accept', {
        headers: { 'x-forwarded-for': freshIp() },
        body: { token, password: GOOD_PASSWORD, displayName: 'Nina New' },
      });
      expect(again.status).toBe(410);
      expect((again.body as ErrorBody).error.code).toBe('GONE');
      const list = await api.request('GET', '/v1/invitations', { headers: bearer(owner.token) });
      expect((list.body as { items: { status: string }[] }).items[0]!.status).toBe('accepted');
    });

    it('answers 400 for a tampered link and 410 for an expired one, naming no invitation', async () => {
      const owner = await signup(api);
      const email = `tamper-${Date.now()}@example.com`;
      await api.request('POST', '/v1/invitations', {
        headers: bearer(owner.token),
        body: { email, role: 'viewer' },
      });
      const token = await invitationToken(owner.tenantId, email);
      const [body, mac] = token.split('.') as [string, string];
      const flipped = mac.startsWith('A') ? `B${mac.slice(1)}` : `A${mac.slice(1)}`;
      for (const bad of [`${body}.${flipped}`, `${body}x.${mac}`, 'garbage']) {
        const res = await api.request('POST', '/v1/invitations/accept', {
          headers: { 'x-forwarded-for': freshIp() },
          body: { token: bad, password: GOOD_PASSWORD, displayName: 'X' },
        });
        expect(res.status).toBe(400);
        expect((res.body as ErrorBody).error.fields![0]!.field).toBe('body.token');
      }
      // A link signed with the deployment's key whose time is over.
      const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as {
        p: Record<string, unknown>;
      };
      const expired = new Signer(process.env.SIGNING_KEYS!.split(',')).sign(
        'invitation',
        claims.p,
        {
          expiresInSeconds: 60,
          now: Date.now() - 3_600_000,
        },
      );
      const res = await api.request('POST', '/v1/invitations/accept', {
        headers: { 'x-forwarded-for': freshIp() },
        body: { token: expired, password: GOOD_PASSWORD, displayName: 'X' },
      });
      expect(res.status).toBe(410);
      expect((res.body as ErrorBody).error.message).toContain('expired');
      const { rows } = await sql('admin', 'SELECT 1 FROM "User" WHERE email = $1', [email]);
      expect(rows).toHaveLength(0);
    });

    it('lets an existing account join with its own password only', async () => {
      const owner = await signup(api);
      const other = await signup(api);
      await api.request('POST', '/v1/invitations', {
        headers: bearer(owner.token),
        body: { email: other.email, role: 'admin' },
      });
      const token = await invitationToken(owner.tenantId, other.email);
      const wrong = await api.request('POST', '/v1/invitations/accept', {
        headers: { 'x-forwarded-for': freshIp() },
        body: { token, password: 'Not-The-Password-99' },
      });
      expect(wrong.status).toBe(401);
      const right = await api.request('POST', '/v1/invitations/accept', {
        headers: { 'x-forwarded-for': freshIp() },
        body: { token, password: other.password },
      });
      expect(right.status).toBe(200);
      expect(right.body).toMatchObject({ userId: other.userId, role: 'admin' });
    });

    it('refuses to invite a member twice, and lets only owners invite owners', async () => {
      const owner = await signup(api);
      const admin = await addMember(api, owner, 'admin');
      const dup = await api.request('POST', '/v1/invitations', {
        headers: bearer(owner.token),
        body: { email: admin.email, role: 'viewer' },
      });
      expect(dup.status).toBe(409);
      const byAdmin = await api.request('POST', '/v1/invitations', {
        headers: bearer(admin.token),
        body: { email: 'boss@example.com', role: 'owner' },
      });
      expect(byAdmin.status).toBe(403);
      const byOwner = await api.request('POST', '/v1/invitations', {
        headers: bearer(owner.token),
        body: { email: 'boss@example.com', role: 'owner' },
      });
      expect(byOwner.status).toBe(201);
      const revoked = await api.request(
        'DELETE',
        `/v1/invitations/${(byOwner.body as { id: string }).id}`,
        { headers: bearer(owner.token) },
      );
      expect(revoked.body).toMatchObject({ status: 'revoked' });
      const token = await invitationToken(owner.tenantId, 'boss@example.com');
      const late = await api.request('POST', '/v1/invitations/accept', {
        headers: { 'x-forwarded-for': freshIp() },
        body: { token, password: GOOD_PASSWORD, displayName: 'Boss' },
      });
      expect(late.status).toBe(410);
    });
  });

  describe('roles', () => {
    it('applies a role change to open sessions at once', async () => {
      const owner = await signup(api);
      const viewer = await addMember(api, owner, 'viewer');
      const before = await api.request('POST', '/v1/leads', {
        headers: bearer(viewer.token),
        body: { displayName: 'Lead' },
      });
      expect(before.status).toBe(403);
      const changed = await api.request('PATCH', `/v1/members/${viewer.membershipId}`, {
        headers: bearer(owner.token),
        body: { role: 'agent' },
      });
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ role: 'agent' });
      const after = await api.request('POST', '/v1/leads', {
        headers: bearer(viewer.token),
        body: { displayName: 'Lead' },
      });
      expect(after.status).toBe(201);
    });

    it('keeps the last owner: no demotion, no removal; owners alone touch owners', async () => {
      const owner = await signup(api);
      const [self] = await members(api, owner.token);
      const demote = await api.request('PATCH', `/v1/members/${self!.id}`, {
        headers: bearer(owner.token),
        body: { role: 'admin' },
      });
      expect(demote.status).toBe(409);
      const remove = await api.request('DELETE', `/v1/members/${self!.id}`, {
        headers: bearer(owner.token),
      });
      expect(remove.status).toBe(409);

      const admin = await addMember(api, owner, 'admin');
      const byAdmin = await api.request('PATCH', `/v1/members/${self!.id}`, {
        headers: bearer(admin.token),
        body: { role: 'viewer' },
      });
      expect(byAdmin.status).toBe(403);
      const promote = await api.request('PATCH', `/v1/members/${admin.membershipId}`, {
        headers: bearer(admin.token),
        body: { role: 'owner' },
      });
      expect(promote.status).toBe(403);

      // With a second owner, the first may step down.
      await api.request('PATCH', `/v1/members/${admin.membershipId}`, {
        headers: bearer(owner.token),
        body: { role: 'owner' },
      });
      const stepDown = await api.request('PATCH', `/v1/members/${self!.id}`, {
        headers: bearer(owner.token),
        body: { role: 'admin' },
      });
      expect(stepDown.status).toBe(200);
      expect((await members(api, admin.token)).filter((m) => m.role === 'owner')).toHaveLength(1);
    });

    it('lets two owners demote each other at once without losing the last owner', async () => {
      const owner = await signup(api);
      const second = await addMember(api, owner, 'owner');
      const [self] = (await members(api, owner.token)).filter((m) => m.userId === owner.userId);
      const results = await Promise.all([
        api.request('PATCH', `/v1/members/${self!.id}`, {
          headers: bearer(second.token),
          body: { role: 'viewer' },
        }),
        api.request('PATCH', `/v1/members/${second.membershipId}`, {
          headers: bearer(owner.token),
          body: { role: 'viewer' },
        }),
      ]);
      const statuses = results.map((r) => r.status).sort();
      // Whichever commits first wins; the other finds it would remove the last owner
      // (409) or has lost its own right to act (403).
      expect(statuses[0]).toBe(200);
      expect([403, 409]).toContain(statuses[1]);
      const owners = (
        await sql('admin', `SELECT 1 FROM "Membership" WHERE "tenantId" = $1 AND role = 'owner'`, [
          owner.tenantId,
        ])
      ).rows;
      expect(owners).toHaveLength(1);
    });

    it("ends a removed member's sessions and API keys at once", async () => {
      const owner = await signup(api);
      const admin = await addMember(api, owner, 'admin');
      const key = await createApiKey(api, { ...owner, token: admin.token }, ['leads:read']);
      expect((await api.request('GET', '/v1/leads', { headers: bearer(key.key) })).status).toBe(
        200,
      );
      expect((await api.request('GET', '/v1/leads', { headers: bearer(admin.token) })).status).toBe(
        200,
      );
      const removed = await api.request('DELETE', `/v1/members/${admin.membershipId}`, {
        headers: bearer(owner.token),
      });
      expect(removed.status).toBe(204);
      expect((await api.request('GET', '/v1/leads', { headers: bearer(admin.token) })).status).toBe(
        401,
      );
      expect((await api.request('GET', '/v1/leads', { headers: bearer(key.key) })).status).toBe(
        401,
      );
      // Signing in again finds no tenant.
      const again = await login(api, { email: admin.email, password: GOOD_PASSWORD });
      expect(again.body).toMatchObject({ session: { tenantId: null }, memberships: [] });
      const events = await api.request('GET', '/v1/audit-events?action=member.*', {
        headers: bearer(owner.token),
      });
      const actions = (
        events.body as { items: { action: string; metadata: Record<string, unknown> }[] }
      ).items;
      expect(actions[0]).toMatchObject({
        action: 'member.removed',
        metadata: { userId: admin.userId, revokedIntegrations: 1 },
      });
      expect(actions.map((a) => a.action)).toEqual(
        expect.arrayContaining(['member.invited', 'member.joined', 'member.removed']),
      );
    });
  });
});
