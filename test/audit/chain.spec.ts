import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainHash, GENESIS_HASH } from '@ibhq/audit';
import { PLATFORM_TENANT_ID, REDACTED, runWithTenant, TenantContextMissingError } from '@ibhq/core';
import { asTenant, createTenantRow, sql } from '../support/db.js';
import {
  auditKit,
  storedEvents,
  storedHead,
  type AuditKit,
  type StoredEvent,
} from './audit-kit.js';

const recompute = (tenantId: string, e: StoredEvent) => chainHash(e.prevHash, { tenantId, ...e });

describe('the audit chain', () => {
  let kit: AuditKit;

  beforeAll(async () => {
    // 50 concurrent writers below: enough connections that they queue on the chain's
    // lock, not only on the pool.
    kit = await auditKit(20);
  });

  afterAll(async () => {
    await kit.close();
  });

  it('numbers a tenant’s events 1..n, links each to the previous hash, and the head to the last', async () => {
    const tenant = await createTenantRow('Chain');
    const returned = [];
    for (let i = 0; i < 5; i++) {
      returned.push(
        await asTenant(tenant, () =>
          kit.audit.record({
            action: 'member.invited',
            targetType: 'invitation',
            targetId: `inv-${String(i)}`,
            metadata: { role: 'agent', n: i },
          }),
        ),
      );
    }
    const stored = await storedEvents(tenant);
    expect(stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(stored[0]!.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < stored.length; i++) expect(stored[i]!.prevHash).toBe(stored[i - 1]!.hash);
    for (const e of stored) expect(recompute(tenant, e)).toBe(e.hash);
    expect(returned.map((e) => e.hash)).toEqual(stored.map((e) => e.hash));
    expect(returned[2]).toMatchObject({
      seq: 3,
      actor: { type: 'system', id: 'test' },
      action: 'member.invited',
      target: { type: 'invitation', id: 'inv-2' },
      metadata: { role: 'agent', n: 2 },
      ip: null,
      userAgent: null,
    });
    expect(await storedHead(tenant)).toEqual({ seq: 5, hash: stored[4]!.hash });
  });

  it('hashes exactly sha256(prevHash + "\\n" + RFC 8785 JSON of the fields)', () => {
    // Written out by hand (keys sorted, no spaces, seq a string): pins the format, so
    // that a self-consistent but different hashing is caught.
    const fields = {
      tenantId: '11111111-2222-4333-8444-555555555555',
      seq: 7,
      occurredAt: new Date('2026-03-04T05:06:07.089Z'),
      actorType: 'user',
      actorId: 'u-1',
      action: 'api_key.created',
      targetType: 'api_key',
      targetId: 'k-1',
      metadata: { z: [1, 2.5, 'é'], a: { y: true, b: null } },
      ip: '203.0.113.9',
      userAgent: null,
    };
    const json =
      '{"action":"api_key.created","actorId":"u-1","actorType":"user","ip":"203.0.113.9",' +
      '"metadata":{"a":{"b":null,"y":true},"z":[1,2.5,"é"]},"occurredAt":"2026-03-04T05:06:07.089Z",' +
      '"seq":"7","targetId":"k-1","targetType":"api_key",' +
      '"tenantId":"11111111-2222-4333-8444-555555555555","userAgent":null}';
    const expected = createHash('sha256')
      .update(`${'ab'.repeat(32)}\n${json}`, 'utf8')
      .digest('hex');
    expect(chainHash('ab'.repeat(32), fields)).toBe(expected);
  });

  it('keeps an independent chain per tenant', async () => {
    const [a, b] = await Promise.all([createTenantRow('A'), createTenantRow('B')]);
    await asTenant(a, () => kit.audit.record({ action: 'member.joined' }));
    await asTenant(b, () => kit.audit.record({ action: 'member.joined' }));
    await asTenant(a, () => kit.audit.record({ action: 'member.removed' }));
    const [ea, eb] = await Promise.all([storedEvents(a), storedEvents(b)]);
    expect(ea.map((e) => [e.seq, e.action])).toEqual([
      [1, 'member.joined'],
      [2, 'member.removed'],
    ]);
    expect(eb.map((e) => [e.seq, e.action])).toEqual([[1, 'member.joined']]);
    expect(eb[0]!.prevHash).toBe(GENESIS_HASH);
    expect(ea[1]!.prevHash).toBe(ea[0]!.hash);
    // Each tenant sees only its own chain.
    const listed = await asTenant(b, () => kit.audit.list({}));
    expect(listed.items.map((e) => e.hash)).toEqual([eb[0]!.hash]);
    expect(await asTenant(a, () => kit.audit.verify())).toEqual({
      ok: true,
      events: 2,
      headSeq: 2,
    });
  });

  it('records platform events in the platform chain, with the context’s actor or the system', async () => {
    const tenant = await createTenantRow('Platform caller');
    const before = await storedHead(PLATFORM_TENANT_ID);
    const bySystem = await kit.audit.recordPlatform({
      action: 'user.sign_in_failed',
      metadata: { reason: 'unknown_email' },
    });
    const byUser = await runWithTenant(
      {
        tenantId: tenant,
        actor: { type: 'user', id: 'u-42' },
        client: { ip: '198.51.100.7', userAgent: 'Browser/1' },
      },
      () =>
        kit.audit.recordPlatform({
          action: 'tenant.created',
          targetType: 'tenant',
          targetId: tenant,
        }),
    );
    expect(bySystem.actor).toEqual({ type: 'system', id: 'ibhq' });
    expect(byUser).toMatchObject({
      seq: bySystem.seq + 1,
      prevHash: bySystem.hash,
      actor: { type: 'user', id: 'u-42' },
      ip: '198.51.100.7',
      userAgent: 'Browser/1',
    });
    const stored = await storedEvents(PLATFORM_TENANT_ID);
    const mine = stored.filter((e) => e.seq >= bySystem.seq && e.seq <= byUser.seq);
    expect(mine.map((e) => e.hash)).toEqual([bySystem.hash, byUser.hash]);
    for (const e of mine) expect(recompute(PLATFORM_TENANT_ID, e)).toBe(e.hash);
    expect(bySystem.seq).toBeGreaterThan(before?.seq ?? 0);
    // Nothing of it in the calling tenant's chain.
    expect(await storedEvents(tenant)).toEqual([]);
    expect(
      (
        await runWithTenant(
          { tenantId: PLATFORM_TENANT_ID, actor: { type: 'staff', id: 's' } },
          () => kit.audit.verify(),
        )
      ).ok,
    ).toBe(true);
  });

  it('refuses a platform event inside an open tenant transaction', async () => {
    const tenant = await createTenantRow('Tx');
    await expect(
      asTenant(tenant, () =>
        kit.db.transaction(() => kit.audit.recordPlatform({ action: 'tenant.created' })),
      ),
    ).rejects.toThrow(/transaction of tenant/);
  });

  it('serialises 50 concurrent writers of one tenant into seq 1..50 without gaps', async () => {
    const tenant = await createTenantRow('Concurrent');
    // All start before the tenant has a head row: its creation races too.
    const events = await asTenant(tenant, () =>
      Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          kit.audit.record({ action: 'lead.created', metadata: { i } }),
        ),
      ),
    );
    expect(events.map((e) => e.seq).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    const stored = await storedEvents(tenant);
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(stored.map((e) => (e.metadata as { i: number }).i)).size).toBe(50);
    expect(await asTenant(tenant, () => kit.audit.verify())).toEqual({
      ok: true,
      events: 50,
      headSeq: 50,
    });
  });

  it('rolls an event back with the transaction it was recorded in', async () => {
    const tenant = await createTenantRow('Rollback');
    await asTenant(tenant, () => kit.audit.record({ action: 'member.joined' }));
    const head = await storedHead(tenant);
    let seenInside: number | undefined;
    await expect(
      asTenant(tenant, () =>
        kit.db.transaction(async (tx) => {
          const event = await kit.audit.record({ action: 'member.removed' });
          // Recorded in this very transaction: visible here, nowhere else yet.
          seenInside = await tx.auditEvent.count();
          expect(event.seq).toBe(2);
          throw new Error('the audited change failed');
        }),
      ),
    ).rejects.toThrow('the audited change failed');
    expect(seenInside).toBe(2);
    expect((await storedEvents(tenant)).map((e) => e.action)).toEqual(['member.joined']);
    expect(await storedHead(tenant)).toEqual(head);
    // The chain goes on from where it was.
    const next = await asTenant(tenant, () => kit.audit.record({ action: 'member.removed' }));
    expect(next).toMatchObject({ seq: 2, prevHash: head!.hash });
  });

  it('rolls back the creation of the head with a tenant’s first event', async () => {
    const tenant = await createTenantRow('First rollback');
    await expect(
      asTenant(tenant, () =>
        kit.db.transaction(async () => {
          await kit.audit.record({ action: 'member.joined' });
          throw new Error('nope');
        }),
      ),
    ).rejects.toThrow('nope');
    expect(await storedEvents(tenant)).toEqual([]);
    expect(await storedHead(tenant)).toBeNull();
  });

  it('commits the event with the change it describes', async () => {
    const tenant = await createTenantRow('Commit');
    await asTenant(tenant, () =>
      kit.db.transaction(async (tx) => {
        const lead = await tx.lead.create({ data: { tenantId: tenant, displayName: 'Audited' } });
        await kit.audit.record({ action: 'lead.created', targetType: 'lead', targetId: lead.id });
      }),
    );
    const [lead] = (
      await sql<{ id: string }>('admin', `SELECT id FROM "Lead" WHERE "tenantId" = $1`, [tenant])
    ).rows;
    expect((await storedEvents(tenant)).map((e) => e.targetId)).toEqual([lead!.id]);
  });

  it('stores metadata redacted: no secrets, no personal fields', async () => {
    const tenant = await createTenantRow('Redaction');
    const event = await asTenant(tenant, () =>
      kit.audit.record({
        action: 'user.password_changed',
        metadata: {
          password: 'x',
          token: 'y',
          email: 'someone@example.com',
          role: 'admin',
          nested: { apiKey: 'k', keyId: 'key-1' },
          note: 'sent Bearer abc.def.ghi',
        },
      }),
    );
    const [stored] = await storedEvents(tenant);
    const expected = {
      password: REDACTED,
      token: REDACTED,
      email: REDACTED,
      role: 'admin',
      nested: { apiKey: REDACTED, keyId: 'key-1' },
      note: `sent Bearer ${REDACTED}`,
    };
    expect(stored!.metadata).toEqual(expected);
    expect(event.metadata).toEqual(expected);
    expect(JSON.stringify(stored)).not.toMatch(/someone@|"x"|"y"|abc\.def/);
    // The hash covers what was stored.
    expect(recompute(tenant, stored!)).toBe(stored!.hash);
  });

  it('takes actor and client from the context, normalising what the columns store', async () => {
    const tenant = await createTenantRow('Context');
    const ctx = {
      tenantId: tenant,
      actor: { type: 'api_key', id: 'key-7' } as const,
      client: { ip: '2001:DB8:0:0::1', userAgent: `Agent\u0000/${'x'.repeat(600)}` },
    };
    const fromContext = await runWithTenant(ctx, () =>
      kit.audit.record({ action: 'lead.exported', metadata: { 'nul\u0000key': 'a\u0000b\uD800' } }),
    );
    const explicit = await runWithTenant(ctx, () =>
      kit.audit.record({
        action: 'lead.exported',
        actor: { type: 'staff', id: 'staff-1' },
        client: { ip: 'not-an-ip' },
      }),
    );
    const [first, second] = await storedEvents(tenant);
    expect(first).toMatchObject({
      actorType: 'api_key',
      actorId: 'key-7',
      ip: '2001:db8::1',
      metadata: { 'nul\uFFFDkey': 'a\uFFFDb\uFFFD' },
    });
    expect(first!.userAgent).toHaveLength(512);
    expect(first!.userAgent!.startsWith('Agent\uFFFD/')).toBe(true);
    expect(fromContext).toMatchObject({ ip: first!.ip, userAgent: first!.userAgent });
    expect(second).toMatchObject({
      actorType: 'staff',
      actorId: 'staff-1',
      ip: null,
      userAgent: null,
    });
    expect(explicit.actor).toEqual({ type: 'staff', id: 'staff-1' });
    expect(await asTenant(tenant, () => kit.audit.verify())).toEqual({
      ok: true,
      events: 2,
      headSeq: 2,
    });
  });

  it('refuses malformed entries as programming errors, and stores nothing', async () => {
    const tenant = await createTenantRow('Invalid');
    const bad: Parameters<AuditKit['audit']['record']>[0][] = [
      { action: 'Member.Invited' },
      { action: 'member' },
      { action: 'member..invited' },
      { action: `member.${'x'.repeat(60)}` },
      { action: 'member.invited', targetId: 'no-type' },
      { action: 'member.invited', targetType: 'x'.repeat(33) },
      { action: 'member.invited', targetType: 'member', targetId: 'x'.repeat(65) },
      // (words, not one long run: redaction would mask a long opaque string first)
      { action: 'member.invited', metadata: { blob: 'x '.repeat(4 * 1024) } },
    ];
    for (const entry of bad) {
      await expect(asTenant(tenant, () => kit.audit.record(entry))).rejects.toThrow(/^audit: /);
    }
    expect(await storedEvents(tenant)).toEqual([]);
    // Just under the limit is fine (8 KiB of JSON including the braces and key).
    const fits = { blob: 'x '.repeat(4 * 1024).slice(0, 8 * 1024 - '{"blob":""}'.length) };
    await asTenant(tenant, () => kit.audit.record({ action: 'member.invited', metadata: fits }));
    const stored = await storedEvents(tenant);
    expect(stored.map((e) => e.metadata)).toEqual([fits]);
  });

  it('needs a tenant context', async () => {
    await expect(kit.audit.record({ action: 'member.invited' })).rejects.toBeInstanceOf(
      TenantContextMissingError,
    );
    await expect(kit.audit.list({})).rejects.toBeInstanceOf(TenantContextMissingError);
    await expect(kit.audit.verify()).rejects.toBeInstanceOf(TenantContextMissingError);
  });
});
