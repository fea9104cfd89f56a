import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyMigrations,
  configureAppRole,
  diffDatabaseToSchema,
  diffMigrationsToSchema,
  migrationStatus,
  scramSha256Verifier,
  setupDatabase,
} from '@ibhq/db';
import { sql } from '../support/db.js';

const prismaDir = path.resolve(import.meta.dirname, '../../prisma');
const layout = { prismaDir };
const ownerUrl = () => process.env.DATABASE_OWNER_URL!;

/** A scratch database on the test server, dropped afterwards. */
function scratchDatabase(suffix: string) {
  const name = `${process.env.IBHQ_TEST_DATABASE!}_${suffix}`;
  const at = (user: string) => {
    const u = new URL(process.env.DATABASE_ADMIN_URL!);
    u.username = user;
    u.pathname = `/${name}`;
    return u.toString();
  };
  return {
    name,
    adminUrl: at(new URL(process.env.DATABASE_ADMIN_URL!).username),
    ownerUrl: at('ibhq_owner'),
    appUrl: at('ibhq_app'),
    async drop() {
      const admin = new pg.Client({ connectionString: process.env.DATABASE_ADMIN_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** A copy of prisma/ in a temporary folder, to try schema changes on. */
async function prismaCopy(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ibhq-prisma-'));
  await cp(prismaDir, dir, { recursive: true });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

describe('migrations', () => {
  it('record the history prisma migrate deploy records: one finished row per file, with its SHA-256', async () => {
    const dirs = (await readdir(path.join(prismaDir, 'migrations'), { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    const { rows } = await sql<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      rolled_back_at: Date | null;
      applied_steps_count: number;
      logs: string | null;
    }>('admin', 'SELECT * FROM "_prisma_migrations" ORDER BY migration_name');
    expect(rows.map((r) => r.migration_name)).toEqual(dirs);
    for (const row of rows) {
      const file = await readFile(
        path.join(prismaDir, 'migrations', row.migration_name, 'migration.sql'),
      );
      expect(row.checksum).toBe(createHash('sha256').update(file).digest('hex'));
      expect(row.finished_at).not.toBeNull();
      expect(row.rolled_back_at).toBeNull();
      expect(row.applied_steps_count).toBe(1);
      expect(row.logs).toBeNull();
    }
  });

  it('are up to date on the test database, and applying again does nothing', async () => {
    const status = await migrationStatus(ownerUrl(), layout);
    expect(status.history).toBeNull();
    expect(status.failedMigrationNames).toEqual([]);
    expect(await applyMigrations(ownerUrl(), layout)).toEqual({ applied: [] });
  });

  it('schema.prisma and the migrated database agree', async () => {
    expect(await diffDatabaseToSchema(ownerUrl(), layout)).toBe('');
  });

  it('replaying the migrations into a fresh shadow database gives schema.prisma too', async () => {
    expect(await diffMigrationsToSchema(ownerUrl(), layout, process.env.DATABASE_ADMIN_URL)).toBe(
      '',
    );
  });

  describe('when schema.prisma changes', () => {
    let copy: { dir: string; remove: () => Promise<void> };

    beforeAll(async () => {
      copy = await prismaCopy();
      const file = path.join(copy.dir, 'schema.prisma');
      const schema = await readFile(file, 'utf8');
      await writeFile(
        file,
        schema.replace(
          '  displayName      String         @db.VarChar(200)\n',
          '  displayName      String         @db.VarChar(200)\n  nickname String? @db.VarChar(50)\n',
        ),
      );
    });
    afterAll(() => copy.remove());

    it('the agreement check fails, naming the difference', async () => {
      const diff = await diffDatabaseToSchema(ownerUrl(), { prismaDir: copy.dir });
      expect(diff).toMatch(/ALTER TABLE "Lead" ADD COLUMN\s+"nickname" VARCHAR\(50\)/);
    });

    it('db:diff generates the migration offline, through a shadow database', async () => {
      const diff = await diffMigrationsToSchema(
        ownerUrl(),
        { prismaDir: copy.dir },
        process.env.DATABASE_ADMIN_URL,
      );
      expect(diff.trim()).toBe(
        '-- AlterTable\nALTER TABLE "Lead" ADD COLUMN     "nickname" VARCHAR(50);',
      );
      const shadows = await sql(
        'admin',
        `SELECT 1 FROM pg_database WHERE datname LIKE 'ibhq_shadow_%'`,
      );
      expect(shadows.rowCount).toBe(0);
    });
  });

  describe('setup of a new database (db:setup)', () => {
    let db: ReturnType<typeof scratchDatabase>;

    beforeAll(() => {
      db = scratchDatabase('setup');
    });
    afterAll(() => db.drop());

    it('creates the database owned by the owner role, migrates it, and can run again', async () => {
      const first = await setupDatabase({
        adminUrl: process.env.DATABASE_ADMIN_URL!,
        ownerUrl: db.ownerUrl,
        appUrl: db.appUrl,
        layout,
      });
      expect(first.createdDatabase).toBe(true);
      expect(first.applied.length).toBeGreaterThan(0);
      const owner = await sql<{ owner: string }>(
        'admin',
        `SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1`,
        [db.name],
      );
      expect(owner.rows[0]?.owner).toBe('ibhq_owner');
      const again = await setupDatabase({
        adminUrl: process.env.DATABASE_ADMIN_URL!,
        ownerUrl: db.ownerUrl,
        appUrl: db.appUrl,
        layout,
      });
      expect(again).toEqual({ createdOwner: false, createdDatabase: false, applied: [] });
    });

    it('refuses an application URL that does not use the application role', async () => {
      await expect(configureAppRole(db.ownerUrl, db.ownerUrl)).rejects.toThrow(
        /must connect as the application role "ibhq_app"/,
      );
    });

    it('stores the application password as a SCRAM verifier, never in clear', async () => {
      const url = new URL(db.appUrl);
      url.password = 'app-secret-Password-1';
      await configureAppRole(db.ownerUrl, url.toString());
      const { rows } = await sql<{ rolpassword: string }>(
        'admin',
        `SELECT rolpassword FROM pg_authid WHERE rolname = 'ibhq_app'`,
      );
      const stored = rows[0]!.rolpassword;
      expect(stored).toMatch(/^SCRAM-SHA-256\$4096:/);
      expect(stored).not.toContain('app-secret-Password-1');
      // Same salt and iterations as stored: our verifier must equal PostgreSQL's own.
      const [, params] = stored.split('$') as [string, string];
      const salt = Buffer.from(params.split(':')[1]!, 'base64');
      expect(scramSha256Verifier('app-secret-Password-1', salt)).toBe(stored);
      await configureAppRole(db.ownerUrl, db.appUrl);
    });
  });

  it('our SCRAM verifier equals the one PostgreSQL computes itself', async () => {
    const role = `ibhq_scram_${Date.now()}`;
    await sql(
      'admin',
      `SET password_encryption = 'scram-sha-256'; CREATE ROLE ${role} PASSWORD 'correct horse battery staple'`,
    );
    try {
      const { rows } = await sql<{ rolpassword: string }>(
        'admin',
        'SELECT rolpassword FROM pg_authid WHERE rolname = $1',
        [role],
      );
      const stored = rows[0]!.rolpassword;
      const salt = Buffer.from(stored.split('$')[1]!.split(':')[1]!, 'base64');
      expect(scramSha256Verifier('correct horse battery staple', salt)).toBe(stored);
      expect(scramSha256Verifier('correct horse battery stapler', salt)).not.toBe(stored);
    } finally {
      await sql('admin', `DROP ROLE ${role}`);
    }
  });
});
