// The benchmark's own database: dropped and created again on every run, built by the
// same code as `npm run db:setup` (owner role, migrations, application role), from
// the built CLI in dist/. Roles need no password: PostgreSQL trusts local TCP on
// development machines (see scripts/ensure-services.sh), as the test suite assumes.
import path from 'node:path';
import pg from 'pg';

export const root = path.resolve(import.meta.dirname, '../..');

export const OWNER_ROLE = 'ibhq_owner';
export const APP_ROLE = 'ibhq_app';

/** URLs of the benchmark database for the admin (superuser), owner and app roles. */
export function databaseUrls(adminUrl, database) {
  const at = new URL(adminUrl);
  const admin = new URL(adminUrl);
  admin.pathname = `/${database}`;
  return {
    adminServer: adminUrl,
    admin: admin.toString(),
    owner: `postgres://${OWNER_ROLE}@${at.host}/${database}`,
    app: `postgres://${APP_ROLE}@${at.host}/${database}`,
  };
}

export async function dropDatabase(adminUrl, database) {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Drops `database` if it exists, then creates and migrates it afresh. */
export async function createDatabase(adminUrl, database) {
  await dropDatabase(adminUrl, database);
  return migrateDatabase(adminUrl, database);
}

/** Creates `database` if it does not exist and applies the migrations it lacks. */
export async function migrateDatabase(adminUrl, database) {
  let db;
  try {
    db = await import('../../dist/apps/cli/libs/db/src/index.js');
  } catch (e) {
    throw new Error(`cannot load the built CLI (dist/apps/cli): run \`npm run build\` first`, {
      cause: e,
    });
  }
  const urls = databaseUrls(adminUrl, database);
  await db.setupDatabase({
    adminUrl,
    ownerUrl: urls.owner,
    appUrl: urls.app,
    layout: { prismaDir: path.join(root, 'prisma') },
  });
  return urls;
}

/** Runs `fn` with a client connected to `url`, always closing it. */
export async function withClient(url, fn) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
