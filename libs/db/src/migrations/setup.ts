import pg from 'pg';
import { applyMigrations, configureAppRole, type PrismaLayout } from './migrator.js';
import { passwordSql } from './scram.js';
import { withDatabase } from './schema-engine.js';

function parts(url: string): { user: string; password: string; database: string } {
  const u = new URL(url);
  return {
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')),
  };
}

export interface SetupResult {
  readonly createdOwner: boolean;
  readonly createdDatabase: boolean;
  readonly applied: readonly string[];
}

/**
 * First-time (and repeatable) setup of a database server for IBHQ, as a superuser:
 * creates the owner role (LOGIN, CREATEROLE to manage the application role,
 * CREATEDB for the shadow databases of `db:diff`) with the password of `ownerUrl`,
 * creates the database owned by it, then migrates as the owner and configures the
 * application role of `appUrl`. Safe to run again: it only creates what is missing
 * and re-applies the passwords from the environment.
 */
export async function setupDatabase(options: {
  adminUrl: string;
  ownerUrl: string;
  appUrl: string;
  layout: PrismaLayout;
}): Promise<SetupResult> {
  const owner = parts(options.ownerUrl);
  const app = parts(options.appUrl);
  if (!owner.user || !owner.database) {
    throw new Error('DATABASE_OWNER_URL must name a user and a database');
  }
  if (owner.database !== app.database) {
    throw new Error(
      `DATABASE_OWNER_URL and DATABASE_URL must name the same database (${owner.database} vs ${app.database})`,
    );
  }
  const admin = new pg.Client({ connectionString: options.adminUrl });
  await admin.connect();
  let createdOwner = false;
  let createdDatabase = false;
  try {
    const password = passwordSql(owner.password);
    const role = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [owner.user]);
    if (role.rowCount === 0) {
      try {
        await admin.query(
          `CREATE ROLE ${pg.escapeIdentifier(owner.user)} LOGIN CREATEROLE CREATEDB PASSWORD ${password}`,
        );
        createdOwner = true;
      } catch (e) {
        // Another setup of the same cluster created it at the same moment.
        if (
          (e as { code?: string }).code !== '42710' &&
          (e as { code?: string }).code !== '23505'
        ) {
          throw e;
        }
      }
    }
    if (!createdOwner) {
      await admin.query(
        `ALTER ROLE ${pg.escapeIdentifier(owner.user)} LOGIN CREATEROLE CREATEDB PASSWORD ${password}`,
      );
    }
    const db = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [owner.database]);
    if (db.rowCount === 0) {
      await admin.query(
        `CREATE DATABASE ${pg.escapeIdentifier(owner.database)} OWNER ${pg.escapeIdentifier(owner.user)}`,
      );
      createdDatabase = true;
    }
  } finally {
    await admin.end();
  }
  const { applied } = await applyMigrations(options.ownerUrl, options.layout);
  await configureAppRole(options.ownerUrl, options.appUrl);
  await markSearchOperatorsLeakproof(options.adminUrl, owner.database);
  return { createdOwner, createdDatabase, applied };
}

/**
 * The functions behind the CRM's search operators, declared LEAKPROOF (a superuser's
 * privilege, hence here and not in a migration). Under row-level security PostgreSQL
 * uses a condition as an index condition only if its function is leakproof; otherwise
 * every trigram, full-text and jsonb search on "Lead" and "LeadActivity" would be a
 * sequential scan of every tenant's rows. These functions raise no error and have no
 * side effect that depends on the row they read (LIKE's errors depend on the pattern
 * only), so evaluating them before the tenant policy reveals nothing of another
 * tenant's rows.
 */
export const LEAKPROOF_SEARCH_FUNCTIONS = [
  'textlike(text,text)',
  'texticlike(text,text)',
  'word_similarity_op(text,text)',
  'ts_match_vq(tsvector,tsquery)',
  'to_tsvector(regconfig,text)',
  'jsonb_contains(jsonb,jsonb)',
  'citext_eq(citext,citext)',
] as const;

async function markSearchOperatorsLeakproof(adminUrl: string, database: string): Promise<void> {
  const db = new pg.Client({ connectionString: withDatabase(adminUrl, database) });
  await db.connect();
  try {
    for (const fn of LEAKPROOF_SEARCH_FUNCTIONS) {
      await db.query(`ALTER FUNCTION ${fn} LEAKPROOF`);
    }
  } finally {
    await db.end();
  }
}
