import { Test } from '@nestjs/testing';
import type { INestApplicationContext } from '@nestjs/common';
import { AuditModule, AuditService, chainHash, GENESIS_HASH } from '@ibhq/audit';
import { Clock, CoreModule, type TenantId } from '@ibhq/core';
import { TenantDb } from '@ibhq/db';
import { sql, testConfig } from '../support/db.js';

/** A clock the tests can pin; unpinned it reads the real time. */
export class TestClock extends Clock {
  pinned: Date | null = null;

  override now(): Date {
    return this.pinned ? new Date(this.pinned) : new Date();
  }

  override nowMs(): number {
    return this.now().getTime();
  }
}

export interface AuditKit {
  readonly app: INestApplicationContext;
  readonly audit: AuditService;
  readonly db: TenantDb;
  readonly clock: TestClock;
  close(): Promise<void>;
}

/** The real AuditModule on the test database (app role), with a pinnable clock. */
export async function auditKit(poolSize = 5): Promise<AuditKit> {
  const clock = new TestClock();
  const moduleRef = await Test.createTestingModule({
    imports: [
      CoreModule.forRoot(testConfig({ DATABASE_POOL_SIZE: String(poolSize) })),
      AuditModule,
    ],
  })
    .overrideProvider(Clock)
    .useValue(clock)
    .compile();
  const app = await moduleRef.init();
  return {
    app,
    audit: app.get(AuditService),
    db: app.get(TenantDb),
    clock,
    close: () => app.close(),
  };
}

export interface StoredEvent {
  seq: number;
  occurredAt: Date;
  actorType: string;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  metadata: Record<string, unknown>;
  ip: string | null;
  userAgent: string | null;
  prevHash: string;
  hash: string;
}

/** A tenant's events as the superuser sees them (no RLS), oldest first. */
export async function storedEvents(tenantId: string): Promise<StoredEvent[]> {
  const { rows } = await sql<StoredEvent>(
    'admin',
    `SELECT seq::int AS seq, "occurredAt", "actorType"::text AS "actorType", "actorId", action,
            "targetType", "targetId", metadata, host(ip) AS ip, "userAgent", "prevHash", hash
       FROM "AuditEvent" WHERE "tenantId" = $1 ORDER BY seq`,
    [tenantId],
  );
  return rows;
}

export async function storedHead(tenantId: string): Promise<{ seq: number; hash: string } | null> {
  const { rows } = await sql<{ seq: number; hash: string }>(
    'admin',
    `SELECT seq::int AS seq, hash FROM "AuditHead" WHERE "tenantId" = $1`,
    [tenantId],
  );
  return rows[0] ?? null;
}

/**
 * Writes `count` valid chained events for a tenant directly as the superuser, in one
 * statement (far faster than `record` one by one), and sets the head.
 */
export async function insertChain(
  tenantId: TenantId,
  count: number,
  start = new Date('2026-01-01T00:00:00.000Z'),
): Promise<void> {
  const seqs: number[] = [];
  const times: string[] = [];
  const prevHashes: string[] = [];
  const hashes: string[] = [];
  const metadata: string[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= count; seq++) {
    const occurredAt = new Date(start.getTime() + seq * 1000);
    const meta = { n: seq };
    const hash = chainHash(prevHash, {
      tenantId,
      seq,
      occurredAt,
      actorType: 'system',
      actorId: 'bulk',
      action: 'bulk.inserted',
      targetType: null,
      targetId: null,
      metadata: meta,
      ip: null,
      userAgent: null,
    });
    seqs.push(seq);
    times.push(occurredAt.toISOString());
    prevHashes.push(prevHash);
    hashes.push(hash);
    metadata.push(JSON.stringify(meta));
    prevHash = hash;
  }
  await sql(
    'admin',
    `INSERT INTO "AuditEvent" ("tenantId", seq, "occurredAt", "actorType", "actorId", action,
                               metadata, "prevHash", hash)
     SELECT $1::uuid, s, t, 'system', 'bulk', 'bulk.inserted', m, p, h
       FROM unnest($2::bigint[], $3::timestamptz[], $4::jsonb[], $5::text[], $6::text[])
         AS x(s, t, m, p, h)`,
    [tenantId, seqs, times, metadata, prevHashes, hashes],
  );
  await sql(
    'admin',
    `INSERT INTO "AuditHead" ("tenantId", seq, hash) VALUES ($1, $2, $3)
     ON CONFLICT ("tenantId") DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash`,
    [tenantId, count, prevHash],
  );
}

/**
 * Runs statements as the superuser in one transaction with the append-only trigger
 * switched off (session_replication_role = replica): how an attacker with database
 * access would edit the trail, for the verifier to catch.
 */
export async function tamper(statements: string): Promise<void> {
  await sql('admin', `BEGIN; SET LOCAL session_replication_role = replica; ${statements}; COMMIT`);
}
