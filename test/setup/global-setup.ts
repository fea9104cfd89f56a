import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { setupDatabase } from '@ibhq/db';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Test databases of runs that were killed before their teardown (their name starts
 * with the run's start time in base 36) are dropped after a day.
 */
async function dropStaleTestDatabases(adminUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'ibhq\\_test\\_%'",
    );
    for (const { datname } of rows) {
      const started = parseInt(datname.slice('ibhq_test_'.length, 'ibhq_test_'.length + 8), 36);
      if (Number.isFinite(started) && Date.now() - started > DAY_MS) {
        await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
      }
    }
  } finally {
    await admin.end();
  }
}

/**
 * Once per test run: a fresh database, built by the same code as `npm run db:setup`
 * (owner role, migrations, application role), and a Redis key prefix of its own, so
 * that runs never see each other's data. Tests read the URLs from the environment,
 * which the forked test workers inherit.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const adminUrl = process.env.DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const run = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const database = `ibhq_test_${run}`;
  const at = new URL(adminUrl);
  const url = (user: string) => `postgres://${user}@${at.host}/${database}`;

  Object.assign(process.env, {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    DATABASE_ADMIN_URL: adminUrl,
    DATABASE_OWNER_URL: url('ibhq_owner'),
    DATABASE_URL: url('ibhq_app'),
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: `ibhq-test-${run}`,
    FERNET_KEYS: [randomBytes(32), randomBytes(32)]
      .map((k) => k.toString('base64url') + '=')
      .join(','),
    SIGNING_KEYS: randomBytes(32).toString('base64url'),
    IBHQ_TEST_DATABASE: database,
  });

  const teardown = async () => {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
    await admin.end();
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const stream = redis.scanStream({ match: `ibhq-test-${run}*`, count: 500 });
    for await (const keys of stream as AsyncIterable<string[]>) {
      if (keys.length > 0) await redis.unlink(...keys);
    }
    redis.disconnect();
  };

  await dropStaleTestDatabases(adminUrl);
  try {
    await setupDatabase({
      adminUrl,
      ownerUrl: url('ibhq_owner'),
      appUrl: url('ibhq_app'),
      layout: { prismaDir: path.resolve(import.meta.dirname, '../../prisma') },
    });
  } catch (e) {
    await teardown();
    throw e;
  }
  return teardown;
}
