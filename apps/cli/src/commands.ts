import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NestFactory } from '@nestjs/core';
import { type INestApplicationContext, Module } from '@nestjs/common';
import { AccountsModule, SignInService } from '@ibhq/accounts';
import {
  type AppConfig,
  asTenantId,
  CoreModule,
  loadConfigOrExit,
  runWithTenant,
} from '@ibhq/core';
import { CryptoModule, FernetKeyRing } from '@ibhq/crypto';
import {
  applyMigrations,
  configureAppRole,
  DatabaseModule,
  diffMigrationsToSchema,
  migrationStatus,
  setupDatabase,
  TenantDb,
} from '@ibhq/db';
import { LeadsModule, LeadsService } from '@ibhq/leads';
import { TenantsModule, TenantsService } from '@ibhq/tenants';

const layout = { prismaDir: path.resolve(process.cwd(), 'prisma') };

const USAGE = `ibhq <command>

  db:setup     as DATABASE_ADMIN_URL (a superuser): create the owner role and the
               database if missing, then db:migrate. Repeatable.
  db:migrate   as DATABASE_OWNER_URL: apply pending migrations (same history as
               \`prisma migrate deploy\`), then set the application role's login
               and password from DATABASE_URL.
  db:status    list pending, failed or edited migrations.
  db:diff      write the SQL that brings the migrations to prisma/schema.prisma as
               a new migration (--name <snake_case>, or --print to only print it).
               Needs a role that may CREATE DATABASE (for a shadow database).
  seed:demo    create the demo tenant, its owner and a few leads (idempotent).
  outbox:show  development: print the last e-mails of a tenant's outbox, decrypted
               (invitation links): outbox:show <tenant id>.
`;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required but not set`);
  return value;
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function migrate(): Promise<void> {
  const ownerUrl = required('DATABASE_OWNER_URL');
  const { applied } = await applyMigrations(ownerUrl, layout);
  await configureAppRole(ownerUrl, required('DATABASE_URL'));
  log(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'database is up to date');
}

async function setup(): Promise<void> {
  const result = await setupDatabase({
    adminUrl: required('DATABASE_ADMIN_URL'),
    ownerUrl: required('DATABASE_OWNER_URL'),
    appUrl: required('DATABASE_URL'),
    layout,
  });
  log(
    [
      result.createdOwner ? 'created the owner role' : 'owner role exists',
      result.createdDatabase ? 'created the database' : 'database exists',
      result.applied.length > 0 ? `applied: ${result.applied.join(', ')}` : 'no pending migration',
    ].join('; '),
  );
}

async function status(): Promise<number> {
  const s = await migrationStatus(required('DATABASE_OWNER_URL'), layout);
  const problems = [
    ...s.failedMigrationNames.map((n) => `failed: ${n}`),
    ...s.editedMigrationNames.map((n) => `edited after it was applied: ${n}`),
  ];
  if (s.history?.diagnostic === 'databaseIsBehind') {
    problems.push(`pending: ${s.history.unappliedMigrationNames.join(', ')}`);
  } else if (s.history) {
    problems.push(`history differs: ${JSON.stringify(s.history)}`);
  }
  log(problems.length > 0 ? problems.join('\n') : 'database is up to date');
  return problems.length > 0 ? 1 : 0;
}

async function diff(name: string | undefined, print: boolean): Promise<void> {
  const ownerUrl = required('DATABASE_OWNER_URL');
  const script = await diffMigrationsToSchema(
    ownerUrl,
    layout,
    process.env.DATABASE_ADMIN_URL ?? ownerUrl,
  );
  if (script === '') {
    log('schema.prisma and the migrations agree: nothing to generate');
    return;
  }
  if (print) {
    process.stdout.write(script);
    return;
  }
  if (!name || !/^[a-z0-9_]{1,60}$/.test(name)) {
    throw new Error('--name <snake_case> is required to write a migration (or use --print)');
  }
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const dir = path.join(layout.prismaDir, 'migrations', `${stamp}_${name}`);
  await mkdir(dir, { recursive: true });
  const handWritten = [
    '',
    '-- ===========================================================================',
    '-- Hand-written below this line: grants and row-level security of new tables.',
    '-- Every tenant-owned table needs: GRANT ... TO ibhq_app; ENABLE and FORCE',
    '-- ROW LEVEL SECURITY; the tenant_isolation policy (see the init migration).',
    '-- ===========================================================================',
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'migration.sql'), script + handWritten);
  log(`wrote ${path.relative(process.cwd(), path.join(dir, 'migration.sql'))}`);
}

@Module({})
class AppContextModule {}

/** The product's services outside a server, for the commands that need them. */
async function withApp<T>(fn: (app: INestApplicationContext) => Promise<T>): Promise<T> {
  const config: AppConfig = loadConfigOrExit();
  const app = await NestFactory.createApplicationContext(
    {
      module: AppContextModule,
      imports: [
        CoreModule.forRoot(config),
        DatabaseModule,
        CryptoModule,
        TenantsModule,
        LeadsModule,
        AccountsModule,
      ],
    },
    { logger: false },
  );
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

/** The demo's sign-in: a development convenience, printed by run.sh. */
export const DEMO_OWNER = { email: 'owner@demo.ibhq.dev', password: 'demo-owner-password' };

async function seedDemo(): Promise<void> {
  await withApp(async (app) => {
    const tenants = app.get(TenantsService);
    let tenant = await tenants.findBySlug('demo');
    if (!tenant) {
      const { tenantId } = await app.get(SignInService).createTenantWithOwner({
        tenantName: 'Demo Brokerage',
        slug: 'demo',
        displayName: 'Demo Owner',
        email: DEMO_OWNER.email,
        password: DEMO_OWNER.password,
        region: 'EU',
      });
      tenant = await tenants.get(tenantId);
      const leads = app.get(LeadsService);
      await runWithTenant(
        { tenantId: tenant.id, actor: { type: 'system', id: 'seed' } },
        async () => {
          for (const displayName of ['Alice Trader', 'Bob Scalper', 'Chen Swing', 'Dana Hodler']) {
            await leads.create({ displayName });
          }
        },
      );
      log(`created the demo tenant ${tenant.id} with 4 leads`);
    } else {
      log(`demo tenant exists: ${tenant.id}`);
    }
    log(`demo owner: ${DEMO_OWNER.email} / ${DEMO_OWNER.password}`);
  });
}

/** Development: the last e-mails of a tenant's outbox, decrypted (invitation links). */
async function showOutbox(tenant: string | undefined): Promise<number> {
  if (!tenant) {
    process.stderr.write('usage: outbox:show <tenant id>\n');
    return 2;
  }
  return withApp(async (app) => {
    const fernet = app.get(FernetKeyRing);
    const emails = await runWithTenant(
      { tenantId: asTenantId(tenant), actor: { type: 'system', id: 'cli' } },
      () =>
        app.get(TenantDb).outboxEmail.findMany({
          orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
          take: 10,
        }),
    );
    if (emails.length === 0) log('the outbox is empty');
    for (const e of emails.reverse()) {
      log(`--- ${e.createdAt.toISOString()} to ${e.to}: ${e.subject}`);
      log(fernet.decryptString(e.bodyEncrypted));
    }
    return 0;
  });
}

export async function runCommand(
  command: string | undefined,
  options: { name?: string; print?: boolean; help?: boolean; tenant?: string },
): Promise<number> {
  switch (command) {
    case 'db:setup':
      await setup();
      return 0;
    case 'db:migrate':
      await migrate();
      return 0;
    case 'db:status':
      return status();
    case 'db:diff':
      await diff(options.name, options.print ?? false);
      return 0;
    case 'seed:demo':
      await seedDemo();
      return 0;
    case 'outbox:show':
      return showOutbox(options.tenant);
    default:
      process.stdout.write(USAGE);
      return options.help || command === undefined ? 0 : 2;
  }
}
