import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { chainHash } from '@ibhq/audit';
import type { TenantId } from '@ibhq/core';
import type { Prisma } from '@ibhq/db';
import { asTenant, createTenantRow, sql } from '../support/db.js';
import { auditKit, storedEvents, storedHead, tamper, type AuditKit } from './audit-kit.js';

type Role = 'app' | 'owner' | 'admin';

/**
 * One statement in a transaction of `role` whose tenant setting makes the tenant's
 * rows visible (row-level security is forced, even on the owner): a refusal below
 * is then never the vacuous "0 rows matched".
 */
function inTenant(role: Role, tenantId: TenantId, statement: string) {
  // Simple-protocol multi-statement text (no parameters): the tenant id is a UUID
  // checked by asTenantId, safe as a literal.
  return sql(
    role,
    `BEGIN; SELECT set_config('app.tenant_id', '${tenantId}', true); ${statement}; COMMIT`,
  );
}

const CHANGES = {
  UPDATE: `UPDATE "AuditEvent" SET "action" = 'member.forged'`,
  DELETE: `DELETE FROM "AuditEvent"`,
  TRUNCATE: `TRUNCATE "AuditEvent"`,
} as const;

describe('the audit trail is immutable in the database', () => {
  let kit: AuditKit;
  let tenant: TenantId;

  beforeAll(async () => {
    kit = await auditKit();
    tenant = await createTenantRow('Immutable');
    for (const action of ['member.invited', 'member.joined', 'member.removed']) {
      await asTenant(tenant, () => kit.audit.record({ action }));
    }
  });

  afterAll(async () => {
    await kit.close();
  });

  it('the application role sees its events (so the refusals below are not vacuous)', async () => {
    const results = (await inTenant(
      'app',
      tenant,
      'SELECT count(*)::int AS n FROM "AuditEvent"',
    )) as unknown as { rows: { n: number }[] }[];
    expect(results[2]!.rows[0]!.n).toBe(3);
  });

  for (const [op, statement] of Object.entries(CHANGES)) {
    it(`refuses ${op} to the application role: it has no such privilege (42501)`, async () => {
      await expect(inTenant('app', tenant, statement)).rejects.toMatchObject({
        code: '42501',
        message: 'permission denied for table AuditEvent',
      });
    });

    for (const role of ['owner', 'admin'] as const) {
      it(`refuses ${op} to the ${role === 'owner' ? 'owner' : 'superuser'} through the trigger`, async () => {
        await expect(inTenant(role, tenant, statement)).rejects.toMatchObject({
          code: '42501',
          message: `the audit trail is append-only: ${op} on "AuditEvent" is refused`,
        });
      });
    }
  }

  it('still holds every event, unchanged, after all those attempts', async () => {
    const events = await storedEvents(tenant);
    expect(events.map((e) => e.action)).toEqual([
      'member.invited',
      'member.joined',
      'member.removed',
    ]);
    expect(await asTenant(tenant, () => kit.audit.verify())).toEqual({
      ok: true,
      events: 3,
      headSeq: 3,
    });
  });
});

describe('verify() finds the first broken link', () => {
  let kit: AuditKit;

  beforeAll(async () => {
    kit = await auditKit();
  });

  afterAll(async () => {
    await kit.close();
  });

  async function tenantWithEvents(n: number): Promise<TenantId> {
    const tenant = await createTenantRow('Verify');
    for (let i = 1; i <= n; i++) {
      await asTenant(tenant, () =>
        kit.audit.record({ action: 'member.role_changed', metadata: { role: 'agent', i } }),
      );
    }
    return tenant;
  }

  const verify = (tenant: TenantId) => asTenant(tenant, () => kit.audit.verify());

  it('reports an intact chain, and an empty one', async () => {
    const tenant = await tenantWithEvents(4);
    expect(await verify(tenant)).toEqual({ ok: true, events: 4, headSeq: 4 });
    const empty = await createTenantRow('Empty');
    expect(await verify(empty)).toEqual({ ok: true, events: 0, headSeq: 0 });
  });

  it('catches a superuser’s edit of one event’s metadata (hash_mismatch at that seq)', async () => {
    const tenant = await tenantWithEvents(6);
    await tamper(
      `UPDATE "AuditEvent" SET metadata = '{"role":"owner","i":3}' WHERE "tenantId" = '${tenant}' AND seq = 3`,
    );
    expect((await storedEvents(tenant))[2]!.metadata).toEqual({ role: 'owner', i: 3 });
    expect(await verify(tenant)).toEqual({
      ok: false,
      events: 2,
      brokenAt: { seq: 3, reason: 'hash_mismatch' },
    });
  });

  it('catches an edit whose hash was recomputed (prev_hash_mismatch at the next seq)', async () => {
    const tenant = await tenantWithEvents(5);
    const events = await storedEvents(tenant);
    const edited = { ...events[1]!, metadata: { role: 'owner', i: 2 } };
    const forged = chainHash(edited.prevHash, { tenantId: tenant, ...edited });
    await tamper(
      `UPDATE "AuditEvent" SET metadata = '{"role":"owner","i":2}', hash = '${forged}'
        WHERE "tenantId" = '${tenant}' AND seq = 2`,
    );
    expect(await verify(tenant)).toEqual({
      ok: false,
      events: 2,
      brokenAt: { seq: 3, reason: 'prev_hash_mismatch' },
    });
  });

  it('catches a deleted middle event (seq_gap at the missing seq)', async () => {
    const tenant = await tenantWithEvents(6);
    await tamper(`DELETE FROM "AuditEvent" WHERE "tenantId" = '${tenant}' AND seq = 4`);
    expect(await verify(tenant)).toEqual({
      ok: false,
      events: 3,
      brokenAt: { seq: 4, reason: 'seq_gap' },
    });
  });

  it('catches a deleted first event', async () => {
    const tenant = await tenantWithEvents(3);
    await tamper(`DELETE FROM "AuditEvent" WHERE "tenantId" = '${tenant}' AND seq = 1`);
    expect(await verify(tenant)).toEqual({
      ok: false,
      events: 0,
      brokenAt: { seq: 1, reason: 'seq_gap' },
    });
  });

  it('catches events cut off at the end (head_mismatch at the seq the head claims)', async () => {
    const tenant = await tenantWithEvents(5);
    await tamper(`DELETE FROM "AuditEvent" WHERE "tenantId" = '${tenant}' AND seq >= 4`);
    expect(await verify(tenant)).toEqual({
      ok: false,
      events: 3,
      brokenAt: { seq: 5, reason: 'head_mismatch' },
    });
  });

  it('catches a head that was moved to another hash', async () => {
    const tenant = await tenantWithEvents(2);
    await sql('admin', `UPDATE "AuditHead" SET hash = $2 WHERE "tenantId" = $1`, [
      tenant,
      'f'.repeat(64),
    ]);
    expect(await verify(tenant)).toEqual({
      ok: false,
      events: 2,
      brokenAt: { seq: 2, reason: 'head_mismatch' },
    });
  });

  it('catches events without a head', async () => {
    const tenant = await tenantWithEvents(2);
    await sql('admin', `DELETE FROM "AuditHead" WHERE "tenantId" = $1`, [tenant]);
    expect(await storedHead(tenant)).toBeNull();
    expect(await verify(tenant)).toEqual({
      ok: false,
      events: 2,
      brokenAt: { seq: 0, reason: 'head_mismatch' },
    });
  });

  it('does not mistake an event appended during the walk for a broken head', async () => {
    const tenant = await tenantWithEvents(3);
    // Append an event right after verify() has read the head, before it reads events.
    const query = kit.db.query.bind(kit.db);
    let appended = false;
    vi.spyOn(kit.db, 'query').mockImplementation(async (statement: Prisma.Sql) => {
      const rows = await query<object>(statement);
      if (
        !appended &&
        /FROM "AuditHead"/.test(statement.text) &&
        !/FOR UPDATE/.test(statement.text)
      ) {
        appended = true;
        await kit.audit.record({ action: 'member.joined' });
      }
      return rows;
    });
    expect(await verify(tenant)).toEqual({ ok: true, events: 3, headSeq: 3 });
    expect(appended).toBe(true);
    expect(await verify(tenant)).toEqual({ ok: true, events: 4, headSeq: 4 });
  });
});
