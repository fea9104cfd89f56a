import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { passwordSql } from './scram.js';
import { openSchemaEngine, type SchemaEngineSession, type SchemaFile } from './schema-engine.js';

/** The role the migrations create for the API and the worker (see the init migration). */
export const APP_ROLE = 'ibhq_app';

const NO_FILTER = { externalTables: [], externalEnums: [] };

export interface PrismaLayout {
  /** Folder holding schema.prisma and migrations/. */
  readonly prismaDir: string;
}

export async function readSchemaFiles({ prismaDir }: PrismaLayout): Promise<SchemaFile[]> {
  const file = path.join(prismaDir, 'schema.prisma');
  return [{ path: file, content: await readFile(file, 'utf8') }];
}

/** The migrations folder in the shape the engine expects (as Prisma's CLI reads it). */
export async function readMigrationList({ prismaDir }: PrismaLayout) {
  const baseDir = path.join(prismaDir, 'migrations');
  const lockPath = 'migration_lock.toml';
  const lockContent = await readFile(path.join(baseDir, lockPath), 'utf8').catch(() => null);
  const entries = await readdir(baseDir, { withFileTypes: true }).catch(() => []);
  const migrationDirectories = await Promise.all(
    entries
      .filter((e) => e.isDirectory())
      .map(async (e) => ({
        path: e.name,
        migrationFile: {
          path: 'migration.sql',
          content: await readFile(path.join(baseDir, e.name, 'migration.sql'), 'utf8').then(
            (value) => ({ tag: 'ok' as const, value }),
            (err: unknown) => ({ tag: 'error' as const, value: String(err) }),
          ),
        },
      })),
  );
  migrationDirectories.sort((a, b) => a.path.localeCompare(b.path));
  return {
    baseDir,
    lockfile: { path: lockPath, content: lockContent },
    migrationDirectories,
    shadowDbInitScript: '',
  };
}

async function withEngine<T>(
  url: string,
  layout: PrismaLayout,
  fn: (session: SchemaEngineSession) => Promise<T>,
  shadowAdminUrl?: string,
): Promise<T> {
  const session = await openSchemaEngine({
    url,
    schemaFiles: await readSchemaFiles(layout),
    ...(shadowAdminUrl === undefined ? {} : { shadowAdminUrl }),
  });
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/**
 * Applies pending migrations as the owner role, exactly as `prisma migrate deploy`
 * does (same advisory lock, checksums and `_prisma_migrations` rows).
 */
export async function applyMigrations(
  ownerUrl: string,
  layout: PrismaLayout,
): Promise<{ applied: string[] }> {
  const migrationsList = await readMigrationList(layout);
  return withEngine(ownerUrl, layout, async ({ engine }) => {
    const out = await engine.applyMigrations({ migrationsList, filters: NO_FILTER });
    return { applied: out.appliedMigrationNames };
  });
}

/** What `prisma migrate status` reports: pending, failed or edited migrations. */
export async function migrationStatus(ownerUrl: string, layout: PrismaLayout) {
  const migrationsList = await readMigrationList(layout);
  return withEngine(ownerUrl, layout, ({ engine }) =>
    engine.diagnoseMigrationHistory({
      migrationsList,
      optInToShadowDatabase: false,
      filters: NO_FILTER,
    }),
  );
}

/**
 * SQL that would bring the live database at `url` to what schema.prisma declares;
 * empty when they agree. Prisma's differ ignores what it does not model (policies,
 * triggers, grants), so those hand-written objects never show up here.
 */
export async function diffDatabaseToSchema(url: string, layout: PrismaLayout): Promise<string> {
  const files = await readSchemaFiles(layout);
  return withEngine(url, layout, async ({ engine }) => {
    const out = await engine.diff({
      from: { tag: 'schemaDatasource', files, configDir: layout.prismaDir },
      to: { tag: 'schemaDatamodel', files },
      script: true,
      exitCode: null,
      filters: NO_FILTER,
    });
    return normaliseScript(out.stdout);
  });
}

/**
 * SQL of the next migration: the difference between the database the migrations
 * build (replayed into a temporary shadow database, which needs a role that may
 * CREATE DATABASE) and schema.prisma. This is `prisma migrate dev --create-only`
 * without the native engine.
 */
export async function diffMigrationsToSchema(
  url: string,
  layout: PrismaLayout,
  shadowAdminUrl?: string,
): Promise<string> {
  const files = await readSchemaFiles(layout);
  const migrationsList = await readMigrationList(layout);
  return withEngine(
    url,
    layout,
    async ({ engine }) => {
      const out = await engine.diff({
        from: { tag: 'migrations', ...migrationsList },
        to: { tag: 'schemaDatamodel', files },
        script: true,
        exitCode: null,
        filters: NO_FILTER,
      });
      return normaliseScript(out.stdout);
    },
    shadowAdminUrl,
  );
}

/** The engine answers an empty diff with a comment line; treat it as empty. */
function normaliseScript(stdout: string | null): string {
  const script = (stdout ?? '').trim();
  return script === '' || /^-- This is an empty migration\.?$/.test(script) ? '' : `${script}\n`;
}

/**
 * Gives the application role (created by the migrations) the login and password of
 * `appUrl`, and checks it is what the isolation rules need: not superuser, no
 * BYPASSRLS, not the owner. Run as the owner after applying migrations.
 */
export async function configureAppRole(ownerUrl: string, appUrl: string): Promise<void> {
  const app = new URL(appUrl);
  const user = decodeURIComponent(app.username);
  if (user !== APP_ROLE) {
    throw new Error(
      `DATABASE_URL must connect as the application role "${APP_ROLE}" created by the migrations (it names "${user || '(none)'}")`,
    );
  }
  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  try {
    await owner.query(
      `ALTER ROLE ${APP_ROLE} WITH LOGIN PASSWORD ${passwordSql(decodeURIComponent(app.password))}`,
    );
    const { rows } = await owner.query<{
      rolsuper: boolean;
      rolbypassrls: boolean;
      is_owner: boolean;
    }>(
      `SELECT r.rolsuper, r.rolbypassrls,
              EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid AND c.relnamespace = 'public'::regnamespace) AS is_owner
         FROM pg_roles r WHERE r.rolname = $1`,
      [APP_ROLE],
    );
    const role = rows[0];
    if (!role || role.rolsuper || role.rolbypassrls || role.is_owner) {
      throw new Error(
        `role ${APP_ROLE} must exist and be neither superuser, BYPASSRLS nor owner of any table`,
      );
    }
  } finally {
    await owner.end();
  }
}
