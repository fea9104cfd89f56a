#!/usr/bin/env node
// `npm run bench:seed [-- --reset] [-- --big N --small N --small-tenants N]`
//
// The lead CRM's benchmark data: one tenant with 1,000,000 leads and four with 100,000
// each, in the benchmark database kept between runs (BENCH_DATABASE, default
// ibhq_bench_crm: the database of scenario "crm"), created and migrated like the other
// benches do it (bench/lib/database.mjs, the code of `npm run db:setup`).
//
// Rows are generated in SQL (INSERT ... SELECT over generate_series, as the superuser)
// in one transaction: the secondary indexes of the lead tables are dropped first and
// built again at the end (from their own definitions, read from pg_indexes), which is
// several times faster than maintaining them row by row; a failure rolls everything
// back, indexes included. What is written is what the product writes: identities
// normalised as libs/leads/src/identity.ts does it (E.164 phones valid for their
// country, lower-case e-mails, usernames without @), searchText exactly as
// searchTextOf() builds it, phoneNational and emailLocal, the IB funnel seeded by
// ibhq_default_stage(), a 'created' activity per lead, a LeadStageChange row and a
// 'stage_changed' activity for each lead past the first stage, notes on ~20% of leads,
// 0-3 tags and two custom fields. A sample of the rows is checked against those rules
// before the transaction commits.
//
// Idempotent: a second run finds its marker (a comment on the database) and the
// tenants, rewrites bench/results/seed.json and exits in seconds. `--reset` drops the
// database and seeds it again; so does a run that finds an interrupted seed (no
// marker), a seed of another size, or a database whose applied migrations were edited
// since (checksums in _prisma_migrations). Ends with VACUUM (ANALYZE) and ANALYZE.
//
// bench/results/seed.json (gitignored) lists the tenants and the credentials of their
// members (owner and agents; password hashed with bcrypt like the product) for the
// benches: { big: {tenantId, leads, owner: {email, password, userId}, agents, ...},
// small: [...], tenants: [...] }.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import bcrypt from 'bcrypt';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import pg from 'pg';
import { dropDatabase, migrateDatabase, root, withClient } from '../lib/database.mjs';
import {
  BROKERS,
  COUNTRIES,
  CUSTOM_FIELDS,
  EMAIL_DOMAINS,
  FIRST_NAMES,
  GROUP_TITLES,
  LAST_NAMES,
  NOTES,
  SOURCE_WEIGHTS,
  STAGE_WEIGHTS,
  TAGS,
} from './data.mjs';

const SEED_VERSION = 1;
const MARKER = 'ibhq-bench-seed';
const SEED_FILE = path.join(root, 'bench/results/seed.json');
/** The bench members' password (a local benchmark database; overridable). */
const PASSWORD = process.env.BENCH_SEED_PASSWORD ?? 'Bench seed: copper kettle 42 lanterns';
/** bcrypt cost of the product's default (BCRYPT_COST, libs/core config). */
const BCRYPT_COST = Number(process.env.BENCH_SEED_BCRYPT_COST ?? 12);
const AGENTS_PER_TENANT = 4;
/** The leads' creation times spread over this many days before the seed ran. */
const HISTORY_DAYS = 730;

const { values: args } = parseArgs({
  options: {
    reset: { type: 'boolean', default: false },
    big: { type: 'string', default: '1000000' },
    small: { type: 'string', default: '100000' },
    'small-tenants': { type: 'string', default: '4' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(
    `usage: npm run bench:seed [-- --reset] [-- --big N] [-- --small N] [-- --small-tenants N]\n` +
      `env: DATABASE_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres),\n` +
      `     BENCH_DATABASE (default $BENCH_CRM_DATABASE or ibhq_bench_crm), BENCH_SEED_PASSWORD\n`,
  );
  process.exit(0);
}

const adminServerUrl =
  process.env.DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const database = process.env.BENCH_DATABASE ?? process.env.BENCH_CRM_DATABASE ?? 'ibhq_bench_crm';
const plan = {
  version: SEED_VERSION,
  big: positive('--big', args.big),
  small: positive('--small', args.small),
  smallTenants: positive('--small-tenants', args['small-tenants'], 0),
};

function positive(name, text, min = 1) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > 10_000_000) {
    process.stderr.write(`bench:seed: ${name} must be an integer from ${min} to 10000000\n`);
    process.exit(2);
  }
  return n;
}

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s`;
const log = (line) => process.stdout.write(`[seed ${elapsed()}] ${line}\n`);
const int = (n) => n.toLocaleString('en-US');

/** The tenants of the plan: slug, name, leads. */
function tenantsOf(p) {
  return [
    { slug: 'bench-crm-big', name: 'Bench CRM (1M)', leads: p.big, role: 'big' },
    ...Array.from({ length: p.smallTenants }, (_, i) => ({
      slug: `bench-crm-small-${i + 1}`,
      name: `Bench CRM small ${i + 1}`,
      leads: p.small,
      role: 'small',
    })),
  ];
}

async function main() {
  if (args.reset) {
    log(`--reset: dropping the database ${database}`);
    await dropDatabase(adminServerUrl, database);
  }
  log(`database ${database}: creating it if needed and applying the migrations`);
  let urls = await migrateDatabase(adminServerUrl, database);
  const drift = await withClient(urls.admin, (db) => editedMigrations(db));
  if (drift.length > 0) {
    // A migration was edited after this database applied it: the schema here is not
    // the one the files describe (migrations are only appended to in production, but
    // they change in place while a feature is developed). Start from the files again.
    log(`migrations edited since this database applied them (${drift.join(', ')})`);
    log('dropping the database and seeding it afresh');
    await dropDatabase(adminServerUrl, database);
    urls = await migrateDatabase(adminServerUrl, database);
  }
  const existing = await withClient(urls.admin, (db) => seededState(db));
  if (existing?.complete) {
    log(`already seeded (${existing.summary}); --reset seeds again`);
    writeSeedFile(urls, existing.tenants, existing.marker);
    return;
  }
  if (existing?.partial) {
    // An interrupted seed (its indexes may be missing) or one of another size: the
    // database is the benchmark's own, so it is made afresh rather than repaired.
    log(`${existing.partial}: dropping the database and seeding it afresh`);
    await dropDatabase(adminServerUrl, database);
    urls = await migrateDatabase(adminServerUrl, database);
  }
  const tenants = await seed(urls);
  const seconds = Math.round((performance.now() - started) / 1000);
  writeSeedFile(urls, tenants, { marker: MARKER, ...plan, seconds });
  log(
    `done: ${int(tenants.reduce((n, t) => n + t.leads, 0))} leads in ${tenants.length} tenants in ${seconds} s`,
  );
}

/** Applied migrations whose file changed since (the checksum is the file's sha256). */
async function editedMigrations(db) {
  const { rows } = await db.query(
    `SELECT migration_name AS name, checksum FROM _prisma_migrations
      WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  );
  return rows
    .filter(({ name, checksum }) => {
      const file = path.join(root, 'prisma/migrations', name, 'migration.sql');
      if (!existsSync(file)) return true;
      return createHash('sha256').update(readFileSync(file)).digest('hex') !== checksum;
    })
    .map(({ name }) => name);
}

/**
 * What the database holds: `{ complete, tenants, marker, summary }` for a finished seed
 * of this size, `{ partial: reason }` for an interrupted one or another size, null for
 * a database without bench tenants.
 */
async function seededState(db) {
  const { rows } = await db.query(
    `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database
      WHERE datname = current_database()`,
  );
  let marker = null;
  try {
    marker = JSON.parse(rows[0]?.comment ?? 'null');
  } catch {
    // not ours
  }
  const { rows: benchTenants } = await db.query(
    `SELECT slug FROM "Tenant" WHERE slug LIKE 'bench-crm-%'`,
  );
  if (marker?.marker !== MARKER) {
    return benchTenants.length > 0 ? { partial: 'an interrupted seed' } : null;
  }
  if (
    marker.version !== SEED_VERSION ||
    marker.big !== plan.big ||
    marker.small !== plan.small ||
    marker.smallTenants !== plan.smallTenants
  ) {
    return { partial: `a seed of another version or size (${JSON.stringify(marker)})` };
  }
  const tenants = [];
  for (const t of tenantsOf(plan)) {
    const found = await db.query(`SELECT id FROM "Tenant" WHERE slug = $1`, [t.slug]);
    if (found.rows.length === 0) return { partial: `a seed without its tenant ${t.slug}` };
    const tenantId = found.rows[0].id;
    const { rows: count } = await db.query(
      `SELECT count(*)::int AS n FROM "Lead" WHERE "tenantId" = $1 AND "mergedIntoId" IS NULL`,
      [tenantId],
    );
    if (count[0].n !== t.leads) {
      log(
        `warning: ${t.slug} holds ${int(count[0].n)} leads, not ${int(t.leads)} (changed since the seed; --reset seeds again)`,
      );
    }
    tenants.push({
      ...t,
      tenantId,
      leadsNow: count[0].n,
      ...(await membersOf(db, tenantId)),
      ...(await extrasOf(db, tenantId)),
    });
  }
  const summary = tenants.map((t) => `${t.slug} ${int(t.leadsNow)}`).join(', ');
  return { complete: true, marker, tenants, summary };
}

async function membersOf(db, tenantId) {
  const { rows } = await db.query(
    `SELECT u.id AS "userId", u.email, m.role::text AS role FROM "Membership" m
       JOIN "User" u ON u.id = m."userId"
      WHERE m."tenantId" = $1 ORDER BY m.role, u.email`,
    [tenantId],
  );
  const person = (r) => ({ userId: r.userId, email: r.email, password: PASSWORD });
  const owner = rows.find((r) => r.role === 'owner');
  return {
    owner: owner ? person(owner) : null,
    agents: rows.filter((r) => r.role === 'agent').map(person),
  };
}

async function extrasOf(db, tenantId) {
  const stages = await db.query(
    `SELECT id, name::text AS name, kind::text AS kind FROM "Stage" WHERE "tenantId" = $1
      ORDER BY position, id`,
    [tenantId],
  );
  return { stages: stages.rows, tags: TAGS, customFields: CUSTOM_FIELDS.map((f) => f.key) };
}

function writeSeedFile(urls, tenants, marker) {
  const view = (t) => ({
    tenantId: t.tenantId,
    slug: t.slug,
    name: t.name,
    leads: t.leads,
    owner: t.owner,
    agents: t.agents,
    stages: t.stages,
    tags: t.tags,
    customFields: t.customFields,
  });
  const file = {
    database,
    databaseUrls: { app: urls.app, owner: urls.owner },
    seed: marker,
    writtenAt: new Date().toISOString(),
    big: view(tenants.find((t) => t.role === 'big')),
    small: tenants.filter((t) => t.role === 'small').map(view),
    tenants: tenants.map(view),
  };
  mkdirSync(path.dirname(SEED_FILE), { recursive: true });
  writeFileSync(SEED_FILE, `${JSON.stringify(file, null, 2)}\n`);
  log(`wrote ${path.relative(root, SEED_FILE)}`);
}

// ---------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------

/** Tables whose secondary indexes are dropped during the load and built again after. */
const LOAD_TABLES = ['Lead', 'LeadActivity', 'LeadTag', 'LeadStageChange'];
/** Leads per INSERT (a unit of work of one connection). */
const CHUNK = 250_000;
/** Connections working at once: the machine's cores, at most 4. */
const WORKERS = Math.max(1, Math.min(4, availableParallelism()));

/** Runs the tasks on the clients, each client taking the next task when it is free. */
async function runQueue(clients, tasks) {
  const queue = [...tasks];
  await Promise.all(
    clients.map(async (client) => {
      for (let task = queue.shift(); task; task = queue.shift()) await task(client);
    }),
  );
}

/**
 * The load, on WORKERS connections of the superuser: tenants and their settings,
 * then the leads (chunks of CHUNK rows), then what hangs off them (by ranges of lead
 * ids), then the indexes, a check of a sample, the marker, VACUUM and ANALYZE. Each
 * step commits on its own: a run that stops half-way leaves no marker, and the next
 * run makes the database afresh.
 */
async function seed(urls) {
  const wanted = tenantsOf(plan);
  const total = wanted.reduce((n, t) => n + t.leads, 0);
  log(`seeding ${int(total)} leads: ${wanted.map((t) => `${t.slug} ${int(t.leads)}`).join(', ')}`);
  log(`hashing the members' password (bcrypt, cost ${BCRYPT_COST})`);
  const passwordHash = await bcrypt.hash(PASSWORD, BCRYPT_COST);

  const clients = [];
  try {
    for (let i = 0; i < WORKERS; i++) {
      const client = new pg.Client({
        connectionString: urls.admin,
        connectionTimeoutMillis: 10_000,
      });
      await client.connect();
      clients.push(client);
      // The load is the only work on this database: no triggers (every row is complete
      // and consistent as generated: the stage trigger and the foreign keys have nothing
      // to do), memory for the index builds (one per connection at a time), no wait for
      // WAL flushes.
      await client.query(`SET session_replication_role = replica`);
      await client.query(`SET maintenance_work_mem = '1GB'`);
      await client.query(`SET work_mem = '256MB'`);
      await client.query(`SET max_parallel_maintenance_workers = 0`);
      await client.query(`SET synchronous_commit = off`);
    }
    const [db] = clients;

    const tenants = [];
    for (const [i, t] of wanted.entries()) tenants.push(await setupTenant(db, t, i, passwordHash));

    const { rows: indexes } = await db.query(
      `SELECT i.indexname, i.indexdef, pg_relation_size(c.oid) AS size FROM pg_indexes i
         JOIN pg_class c ON c.relname = i.indexname AND c.relkind = 'i'
        WHERE i.schemaname = 'public' AND i.tablename = ANY($1)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)
        ORDER BY i.tablename, i.indexname`,
      [LOAD_TABLES],
    );
    log(`dropping ${indexes.length} secondary indexes of ${LOAD_TABLES.join(', ')} for the load`);
    for (const { indexname } of indexes) {
      await db.query(`DROP INDEX ${pg.escapeIdentifier(indexname)}`);
    }

    log(
      `leads: ${tenants.reduce((n, t) => n + Math.ceil(t.leads / CHUNK), 0)} chunks of up to ${int(CHUNK)} rows on ${WORKERS} connections`,
    );
    const done = new Map(tenants.map((t) => [t.slug, 0]));
    await runQueue(
      clients,
      tenants.flatMap((t, i) =>
        Array.from({ length: Math.ceil(t.leads / CHUNK) }, (_, k) => async (client) => {
          const from = k * CHUNK + 1;
          const to = Math.min(t.leads, (k + 1) * CHUNK);
          await insertLeads(client, { ...t, salt: i * 1_000_003, from, to });
          done.set(t.slug, done.get(t.slug) + (to - from + 1));
          log(`  ${t.slug}: ${int(done.get(t.slug))} of ${int(t.leads)} leads`);
        }),
      ),
    );

    log('tags, activities, notes and stage changes of the leads');
    const parts = [];
    for (const t of tenants) {
      const k = Math.ceil(t.leads / CHUNK);
      const { rows } = await db.query(
        `SELECT unnest(percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY id)) AS id
           FROM "Lead" WHERE "tenantId" = $1`,
        [t.tenantId, Array.from({ length: k - 1 }, (_, i) => (i + 1) / k)],
      );
      const bounds = [null, ...rows.map((r) => r.id), null];
      for (let p = 0; p < k; p++) parts.push({ t, from: bounds[p], to: bounds[p + 1] });
    }
    const related = new Map(tenants.map((t) => [t.slug, { tags: 0, activities: 0, moves: 0 }]));
    await runQueue(
      clients,
      parts.map(({ t, from, to }) => async (client) => {
        const r = await insertRelated(client, { ...t, from, to });
        const sum = related.get(t.slug);
        for (const key of Object.keys(sum)) sum[key] += r[key];
      }),
    );
    for (const t of tenants) {
      const r = related.get(t.slug);
      log(
        `  ${t.slug}: ${int(r.tags)} lead tags, ${int(r.activities)} activities, ${int(r.moves)} stage changes`,
      );
    }

    log(`building the ${indexes.length} indexes again`);
    // Largest first (their size before the load is a fair guess of the order).
    indexes.sort((a, b) => Number(b.size) - Number(a.size));
    await runQueue(
      clients,
      indexes.map(({ indexname, indexdef }) => async (client) => {
        const t0 = performance.now();
        await client.query(indexdef);
        log(`  ${indexname} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }),
    );

    await verifySample(db, tenants);

    log('VACUUM (ANALYZE) of the loaded tables, ANALYZE of the rest');
    // Vacuumed now rather than by autovacuum in the middle of a benchmark: hint bits and
    // the visibility map set (index-only scans), statistics for the planner.
    await runQueue(clients, [
      ...LOAD_TABLES.map(
        (table) => (client) => client.query(`VACUUM (ANALYZE) ${pg.escapeIdentifier(table)}`),
      ),
      (client) => client.query('ANALYZE'),
    ]);

    await db.query(
      `COMMENT ON DATABASE ${pg.escapeIdentifier(database)} IS ${pg.escapeLiteral(
        JSON.stringify({ marker: MARKER, ...plan }),
      )}`,
    );
    return tenants;
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

async function setupTenant(db, t, index, passwordHash) {
  const { rows: tenantRows } = await db.query(
    `INSERT INTO "Tenant" (id, name, slug, "updatedAt") VALUES (ibhq_uuidv7(), $1, $2, now())
     RETURNING id`,
    [t.name, t.slug],
  );
  const tenantId = tenantRows[0].id;

  // Members: an owner and agents who own the leads.
  const people = [
    { role: 'owner', email: `${t.slug}-owner@bench.ibhq.test`, displayName: `${t.name} owner` },
    ...Array.from({ length: AGENTS_PER_TENANT }, (_, i) => ({
      role: 'agent',
      email: `${t.slug}-agent${i + 1}@bench.ibhq.test`,
      displayName: `${t.name} agent ${i + 1}`,
    })),
  ];
  const { rows: users } = await db.query(
    `WITH p AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY
                AS p(email, "displayName", role, n)),
          u AS (INSERT INTO "User" (id, email, "passwordHash", "displayName", "updatedAt")
                SELECT ibhq_uuidv7(), p.email, $4, p."displayName", now() FROM p
                ON CONFLICT (email) DO UPDATE SET "passwordHash" = EXCLUDED."passwordHash"
                RETURNING id, email),
          m AS (INSERT INTO "Membership" ("tenantId", id, "userId", role, "updatedAt")
                SELECT $5, ibhq_uuidv7(), u.id, p.role::"MemberRole", now()
                  FROM u JOIN p USING (email)
                RETURNING "userId")
     SELECT u.id AS "userId", u.email, p.role FROM u JOIN p USING (email) ORDER BY p.n`,
    [
      people.map((p) => p.email),
      people.map((p) => p.displayName),
      people.map((p) => p.role),
      passwordHash,
      tenantId,
    ],
  );
  const ownerUserId = users[0].userId;
  const memberIds = users.map((u) => u.userId);

  // The IB funnel, exactly as the product seeds it on first use.
  await db.query(`SELECT ibhq_default_stage($1)`, [tenantId]);
  const { rows: stages } = await db.query(
    `SELECT id, name::text AS name, kind::text AS kind FROM "Stage" WHERE "tenantId" = $1
      ORDER BY position, id`,
    [tenantId],
  );
  if (stages.length !== STAGE_WEIGHTS.length) {
    throw new Error(`expected the ${STAGE_WEIGHTS.length}-stage funnel, found ${stages.length}`);
  }
  const { rows: tags } = await db.query(
    `INSERT INTO "Tag" ("tenantId", id, name)
     SELECT $1, ibhq_uuidv7(), n FROM unnest($2::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i
     RETURNING id`,
    [tenantId, TAGS],
  );
  await db.query(
    `INSERT INTO "CustomField" ("tenantId", id, key, label, type, options, position, "updatedAt")
     SELECT $1, ibhq_uuidv7(), f.key, f.label, f.type::"CustomFieldType",
            ARRAY(SELECT json_array_elements_text(f.options))::varchar(100)[], f.i::int, now()
       FROM json_to_recordset($2::json) AS f(key text, label text, type text, options json, i int)`,
    [tenantId, JSON.stringify(CUSTOM_FIELDS.map((f, i) => ({ ...f, i: i + 1 })))],
  );

  return {
    ...t,
    index,
    tenantId,
    memberIds,
    ownerUserId,
    tagIds: tags.map((tag) => tag.id),
    owner: { userId: ownerUserId, email: users[0].email, password: PASSWORD },
    agents: users.slice(1).map((u) => ({ userId: u.userId, email: u.email, password: PASSWORD })),
    stages,
    tags: TAGS,
    customFields: CUSTOM_FIELDS.map((f) => f.key),
  };
}

/** `weights` (summing to 100) expanded to 100 slots of `values`. */
function slots(values, weights) {
  const out = [];
  values.forEach((v, i) => {
    for (let k = 0; k < weights[i]; k++) out.push(v);
  });
  if (out.length !== 100) throw new Error(`weights sum to ${out.length}, not 100`);
  return out;
}

/**
 * The leads, in one INSERT ... SELECT over generate_series. Every choice is a hash of
 * the row number (hashint8), so a seed is the same every time; identities embed the
 * row number (or a bijection of it), so they are unique within the tenant.
 */
async function insertLeads(db, { tenantId, leads: n, salt, stages, memberIds, from, to }) {
  const country = slots(
    COUNTRIES.map((_, i) => i + 1),
    COUNTRIES.map((c) => c.weight),
  );
  const source = slots(
    SOURCE_WEIGHTS.map(([s]) => s),
    SOURCE_WEIGHTS.map(([, w]) => w),
  );
  const stageSlot = slots(
    stages.map((_, i) => i + 1),
    STAGE_WEIGHTS,
  );
  const { rowCount } = await db.query(
    `
    WITH r AS (
      SELECT g,
             -- independent pseudo-random numbers in [0, 2^31) per row
             (hashint8(g * 8 + 0 + $2::int) & 2147483647) AS x0,
             (hashint8(g * 8 + 1 + $2::int) & 2147483647) AS x1,
             (hashint8(g * 8 + 2 + $2::int) & 2147483647) AS x2,
             (hashint8(g * 8 + 3 + $2::int) & 2147483647) AS x3,
             (hashint8(g * 8 + 4 + $2::int) & 2147483647) AS x4,
             (hashint8(g * 8 + 5 + $2::int) & 2147483647) AS x5,
             (hashint8(g * 8 + 6 + $2::int) & 2147483647) AS x6,
             (hashint8(g * 8 + 7 + $2::int) & 2147483647) AS x7
        FROM generate_series($23::int, $24::int) AS g
    ),
    c AS (
      SELECT r.*,
             1 + x0 % cardinality($4::text[]) AS fi,
             1 + x1 % cardinality($6::text[]) AS li,
             ($10::int[])[1 + x2 % 100] AS ci,
             ($17::text[])[1 + x3 % 100] AS source,
             ($18::int[])[1 + x4 % 100] AS si,
             -- created over the last HISTORY_DAYS days, in row order, a little jitter
             now() - make_interval(days => ${HISTORY_DAYS})
                   + make_interval(secs => (g::float8 / $3::int) * ${HISTORY_DAYS} * 86400 - (x5 % 3600))
               AS created
        FROM r
    ),
    d AS (
      SELECT c.*,
             source LIKE 'telegram%' OR x6 % 100 < 20 AS has_tg,
             x6 % 100 < 60 AS has_phone,
             x7 % 100 < 50 AS has_email,
             (x1 >> 8) % 100 < 75 AS has_username,
             (x2 >> 8) % 100 < 85 AS has_country,
             (x3 >> 8) % 100 < 80 AS has_language,
             (x4 >> 8) % 100 < 92 AS has_owner,
             ($11::text[])[ci] AS country,
             -- the phone: +<calling code><national prefix><digits>, digits a bijection of g
             ($13::text[])[ci] AS calling_code,
             ($14::text[])[ci]
               || lpad(((g::bigint * 7919 + 12345) % (10::bigint ^ ($15::int[])[ci])::bigint)::text,
                       ($15::int[])[ci], '0') AS national,
             CASE WHEN si = 1 THEN created
                  ELSE LEAST(now(), created + make_interval(secs => 3600 + (x5 >> 8) % (45 * 86400))) END
               AS stage_changed
        FROM c
    )
    INSERT INTO "Lead" ("tenantId", id, "displayName", "telegramUserId", "telegramUsername", phone,
                        email, language, country, source, "sourceDetails", "ownerId", "stageId",
                        "stageChangedAt", "customFields", version, "searchText", "phoneNational",
                        "emailLocal", "createdAt", "updatedAt")
    SELECT $1::uuid,
           -- a UUIDv7 of the creation time, like the product's uuid(7) ids
           encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                  PLACING substring(int8send((extract(epoch FROM created) * 1000)::bigint) FROM 3)
                  FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid,
           ($4::text[])[fi] || ' ' || ($6::text[])[li],
           tg_id, username, phone, email,
           CASE WHEN has_language THEN ($12::text[])[ci] END,
           CASE WHEN has_country OR phone IS NOT NULL THEN country END,
           source::"LeadSource",
           CASE source
             WHEN 'telegram_dm' THEN jsonb_build_object('chatId', tg_id::text)
             WHEN 'telegram_group' THEN jsonb_build_object(
               'chatId', (-1001000000000 - (x7 % 8))::text,
               'chatTitle', ($19::text[])[1 + x7 % 8],
               'messageId', 1 + x0 % 500000,
               'messageLink', 'https://t.me/c/' || (1000000000 + x7 % 8) || '/' || (1 + x0 % 500000))
             WHEN 'telegram_channel' THEN jsonb_build_object(
               'chatId', (-1002000000000 - (x7 % 8))::text,
               'chatTitle', ($19::text[])[1 + x7 % 8],
               'messageId', 1 + x1 % 200000,
               'messageLink', 'https://t.me/c/' || (2000000000 + x7 % 8) || '/' || (1 + x1 % 200000))
             ELSE '{}'::jsonb
           END,
           CASE WHEN has_owner THEN ($16::uuid[])[1 + x3 % cardinality($16::uuid[])] END,
           ($9::uuid[])[si],
           stage_changed,
           jsonb_strip_nulls(jsonb_build_object(
             'deposit_usd', CASE WHEN si BETWEEN 6 AND 7 THEN 100 + (x4 % 500) * 50 END,
             'broker', CASE WHEN si BETWEEN 4 AND 7 THEN ($20::text[])[1 + x5 % cardinality($20::text[])] END)),
           CASE WHEN si = 1 THEN 1 ELSE 2 END,
           -- searchTextOf(): name, username, phone, e-mail, lower-case, joined by spaces
           concat_ws(' ', ($5::text[])[fi] || ' ' || ($7::text[])[li], lower(username), phone, email),
           CASE WHEN phone IS NOT NULL THEN national END,
           CASE WHEN email IS NOT NULL THEN email_local END,
           created,
           GREATEST(stage_changed, LEAST(now(), created + make_interval(secs => (x6 >> 8) % (20 * 86400))))
      FROM (
        SELECT d.*,
               CASE WHEN has_tg THEN 500000000 + (g::bigint * 104729) % 6500000000 END AS tg_id,
               CASE WHEN has_tg AND has_username THEN
                 CASE x0 % 3
                   WHEN 0 THEN initcap(($8::text[])[fi]) || '_' || initcap(($21::text[])[li]) || g
                   WHEN 1 THEN ($8::text[])[fi] || ($21::text[])[li] || g
                   ELSE left(($8::text[])[fi], 1) || ($21::text[])[li] || '_fx' || g
                 END
               END AS username,
               CASE WHEN has_phone THEN '+' || calling_code || national END AS phone,
               CASE WHEN has_email THEN email_local || '@' || ($22::text[])[1 + x4 % cardinality($22::text[])] END
                 AS email,
               email_local
          FROM d,
               LATERAL (SELECT CASE x5 % 3
                                 WHEN 0 THEN ($8::text[])[fi] || '.' || ($21::text[])[li] || g
                                 WHEN 1 THEN ($8::text[])[fi] || ($21::text[])[li] || '.' || g
                                 ELSE left(($8::text[])[fi], 1) || ($21::text[])[li] || g
                               END AS email_local) e
      ) leads
    `,
    [
      tenantId, // $1
      salt, // $2
      n, // $3
      FIRST_NAMES.map(([name]) => name), // $4
      FIRST_NAMES.map(([name]) => name.toLowerCase()), // $5
      LAST_NAMES.map(([name]) => name), // $6
      LAST_NAMES.map(([name]) => name.toLowerCase()), // $7
      FIRST_NAMES.map(([, ascii]) => ascii), // $8
      stages.map((s) => s.id), // $9
      country, // $10
      COUNTRIES.map((c) => c.code), // $11
      COUNTRIES.map((c) => c.language), // $12
      COUNTRIES.map((c) => c.callingCode), // $13
      COUNTRIES.map((c) => c.prefix), // $14
      COUNTRIES.map((c) => c.digits), // $15
      memberIds, // $16
      source, // $17
      stageSlot, // $18
      GROUP_TITLES, // $19
      BROKERS, // $20
      LAST_NAMES.map(([, ascii]) => ascii), // $21
      EMAIL_DOMAINS, // $22
      from, // $23
      to, // $24
    ],
  );
  return rowCount;
}

/**
 * What the product writes beside a lead, derived from the lead rows just written (a
 * hash of the lead id picks tags and notes): its tags, a 'created' activity, a note on
 * ~20% of leads, and for a lead past the first stage the LeadStageChange row and the
 * 'stage_changed' activity of its move (from New, at stageChangedAt, by its owner).
 */
async function insertRelated(db, { tenantId, stages, tagIds, ownerUserId, from, to }) {
  // The leads of one part: ids in [from, to) (null: unbounded), through the primary key.
  for (const id of [from, to]) {
    if (id !== null && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) {
      throw new Error(`not a lead id: ${id}`);
    }
  }
  const range = `${from ? `AND l.id >= '${from}'::uuid` : ''} ${to ? `AND l.id < '${to}'::uuid` : ''}`;
  const { rowCount: tagCount } = await db.query(
    `INSERT INTO "LeadTag" ("tenantId", "leadId", "tagId")
     SELECT l."tenantId", l.id, ($2::uuid[])[1 + (h.x + o.off) % cardinality($2::uuid[])]
       FROM "Lead" l
       CROSS JOIN LATERAL (SELECT hashtext(l.id::text) & 2147483647 AS x) h
       CROSS JOIN LATERAL unnest(ARRAY[0, 3, 7]) WITH ORDINALITY AS o(off, i)
      WHERE l."tenantId" = $1 ${range} AND o.i <= (h.x >> 4) % 4`,
    [tenantId, tagIds],
  );
  const uuidAt = (ts) => `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
      PLACING substring(int8send((extract(epoch FROM ${ts}) * 1000)::bigint) FROM 3)
      FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid`;
  const { rowCount: created } = await db.query(
    `INSERT INTO "LeadActivity" ("tenantId", id, "leadId", kind, body, data, "actorType", "actorId", "createdAt")
     SELECT l."tenantId", ${uuidAt('l."createdAt"')}, l.id, 'created', '',
            jsonb_build_object('source', l.source::text),
            CASE WHEN l.source IN ('manual', 'import') THEN 'user' WHEN l.source = 'api' THEN 'api_key'
                 ELSE 'system' END::"AuditActorType",
            CASE WHEN l.source IN ('manual', 'import') THEN COALESCE(l."ownerId"::text, $2)
                 WHEN l.source = 'api' THEN 'bench-integration' ELSE 'telegram-listener' END,
            l."createdAt"
       FROM "Lead" l WHERE l."tenantId" = $1 ${range}`,
    [tenantId, ownerUserId],
  );
  const { rowCount: notes } = await db.query(
    `INSERT INTO "LeadActivity" ("tenantId", id, "leadId", kind, body, "actorType", "actorId", "createdAt")
     SELECT l."tenantId", ${uuidAt('n.at')}, l.id, 'note', ($3::text[])[1 + h.x % cardinality($3::text[])],
            'user', COALESCE(l."ownerId"::text, $2), n.at
       FROM "Lead" l
       CROSS JOIN LATERAL (SELECT hashtext(l.id::text || 'note') & 2147483647 AS x) h
       CROSS JOIN LATERAL (SELECT l."createdAt" + (l."updatedAt" - l."createdAt") * ((h.x >> 8) % 1000) / 1000.0
                             AS at) n
      WHERE l."tenantId" = $1 ${range} AND h.x % 100 < 20`,
    [tenantId, ownerUserId, NOTES],
  );
  const first = stages[0];
  const { rowCount: moves } = await db.query(
    `WITH moved AS (
       SELECT l."tenantId", l.id, l."stageId", l."stageChangedAt", COALESCE(l."ownerId"::text, $3) AS actor,
              s.name::text AS "toName"
         FROM "Lead" l JOIN "Stage" s ON s."tenantId" = l."tenantId" AND s.id = l."stageId"
        WHERE l."tenantId" = $1 ${range} AND l."stageId" <> $2
     ),
     activity AS (
       INSERT INTO "LeadActivity" ("tenantId", id, "leadId", kind, data, "actorType", "actorId", "createdAt")
       SELECT "tenantId", ${uuidAt('"stageChangedAt"')}, id, 'stage_changed',
              jsonb_build_object('fromStageId', $2::text, 'toStageId', "stageId"::text,
                                 'fromName', $4::text, 'toName', "toName"),
              'user', actor, "stageChangedAt"
         FROM moved
     )
     INSERT INTO "LeadStageChange" ("tenantId", id, "leadId", "fromStageId", "toStageId", "actorType",
                                    "actorId", "changedAt")
     SELECT "tenantId", ${uuidAt('"stageChangedAt"')}, id, $2, "stageId", 'user', actor, "stageChangedAt"
       FROM moved`,
    [tenantId, first.id, ownerUserId, first.name],
  );
  return { tags: tagCount, activities: created + notes + moves, moves };
}

/** searchTextOf() of libs/leads/src/identity.ts, restated to check the rows. */
function searchTextOf(lead) {
  return [lead.displayName, lead.telegramUsername, lead.phone, lead.email]
    .filter(Boolean)
    .join(' ')
    .toLowerCase();
}

const USERNAME = /^[A-Za-z][A-Za-z0-9_]{3,31}$/;

/** Checks a sample of every tenant's leads against the product's rules (throws: rollback). */
async function verifySample(db, tenants) {
  let checked = 0;
  for (const t of tenants) {
    const { rows } = await db.query(
      `SELECT l.*, l."telegramUserId"::text AS "telegramUserId",
              (SELECT count(*)::int FROM "LeadTag" lt WHERE lt."tenantId" = l."tenantId" AND lt."leadId" = l.id) AS tags,
              (SELECT count(*)::int FROM "LeadStageChange" c WHERE c."tenantId" = l."tenantId" AND c."leadId" = l.id) AS moves
         FROM "Lead" l TABLESAMPLE SYSTEM (1) REPEATABLE (7)
        WHERE l."tenantId" = $1 LIMIT 2000`,
      [t.tenantId],
    );
    const firstStage = t.stages[0].id;
    for (const l of rows) {
      const problems = [];
      if (l.searchText !== searchTextOf(l))
        problems.push(`searchText ${JSON.stringify(l.searchText)}`);
      if (l.phone) {
        const parsed = parsePhoneNumberFromString(l.phone);
        if (!parsed?.isValid() || parsed.number !== l.phone)
          problems.push(`phone ${l.phone} invalid`);
        else if (parsed.nationalNumber !== l.phoneNational)
          problems.push(`phoneNational ${l.phoneNational}`);
        else if (parsed.country !== l.country) problems.push(`country ${l.country} for ${l.phone}`);
      } else if (l.phoneNational !== null) problems.push('phoneNational without phone');
      if (l.email) {
        if (l.email !== l.email.toLowerCase() || !/^[^@\s]+@[^@\s]+\.[a-z]+$/.test(l.email)) {
          problems.push(`email ${l.email}`);
        }
        if (l.emailLocal !== l.email.slice(0, l.email.lastIndexOf('@')))
          problems.push('emailLocal');
      } else if (l.emailLocal !== null) problems.push('emailLocal without email');
      if (
        l.telegramUsername &&
        (!USERNAME.test(l.telegramUsername) || l.telegramUsername.endsWith('_'))
      ) {
        problems.push(`username ${l.telegramUsername}`);
      }
      if (l.telegramUsername && !l.telegramUserId) problems.push('username without Telegram id');
      if (l.tags > 3) problems.push(`${l.tags} tags`);
      if ((l.stageId === firstStage) !== (l.moves === 0)) problems.push(`moves ${l.moves}`);
      if (problems.length > 0) {
        throw new Error(`seed check failed for lead ${l.id} of ${t.slug}: ${problems.join('; ')}`);
      }
    }
    checked += rows.length;
  }
  log(
    `checked ${int(checked)} sampled leads: identities, searchText, tags and moves as the product writes them`,
  );
}

main().catch((e) => {
  process.stderr.write(`bench:seed failed: ${e.stack ?? e}\n`);
  process.exit(1);
});
