import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import * as engineBindings from '@prisma/schema-engine-wasm/schema_engine_bg';
import pg from 'pg';

/**
 * Prisma's schema engine (the part behind `prisma migrate`) compiled to WebAssembly,
 * driving PostgreSQL through a driver adapter. It lets these offline machines run the
 * exact migration logic of `prisma migrate deploy` (same checksums, same
 * `_prisma_migrations` rows) without the native engine binary, which Prisma's CLI
 * would download.
 *
 * The stock `@prisma/adapter-pg` is not quite right for migrations, so it is adapted
 * here (each point checked by the migration tests):
 * - its `executeScript` splits a script on every `;`, which breaks `DO $$ ... $$`
 *   blocks, functions and comments; the native engine sends the whole script as one
 *   simple query, which PostgreSQL runs as one implicit transaction. So do we.
 * - it reports PostgreSQL's internal `"char"` type (OID 18, found in catalog columns
 *   that the engine reads to describe a database) as unsupported; its values are
 *   text, so results label them as `text`.
 * - the engine takes its advisory lock on "the" connection; a pool of one connection
 *   keeps the lock, the history table and the scripts on one session, like the CLI.
 */

const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

// @types/node 20 does not declare the WebAssembly global; this is the part used here.
declare const WebAssembly: {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, object>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
};
type WasmExports = Record<string, unknown> & { __wbindgen_start: () => void };

let loaded: Promise<typeof engineBindings> | undefined;

function loadEngineModule(): Promise<typeof engineBindings> {
  loaded ??= (async () => {
    const jsFile = createRequire(import.meta.url).resolve(
      '@prisma/schema-engine-wasm/schema_engine_bg',
    );
    const wasm = await readFile(path.join(path.dirname(jsFile), 'schema_engine_bg.wasm'));
    const { instance } = await WebAssembly.instantiate(wasm, {
      './schema_engine_bg.js': engineBindings,
    });
    const exports = instance.exports as WasmExports;
    engineBindings.__wbg_set_wasm(exports);
    exports.__wbindgen_start();
    return engineBindings;
  })();
  return loaded;
}

/** A multi-statement script resolves to one result per statement. */
function relabelCharColumns<R extends pg.QueryResult | pg.QueryResult[]>(result: R): R {
  const results: pg.QueryResult[] = Array.isArray(result) ? result : [result];
  for (const r of results) {
    for (const field of r.fields) {
      if (field.dataTypeID === PG_CHAR_OID) field.dataTypeID = PG_TEXT_OID;
    }
  }
  return result;
}

type PromiseQuery = (config: pg.QueryConfig) => Promise<pg.QueryResult>;

/** A pool of one connection whose promise-style query results relabel `"char"`. */
function migrationPool(connectionString: string): pg.Pool {
  const pool = new pg.Pool({ connectionString, max: 1, application_name: 'ibhq-migrate' });
  const poolQuery = pool.query.bind(pool) as unknown as PromiseQuery;
  (pool as unknown as { query: PromiseQuery }).query = async (config) =>
    relabelCharColumns(await poolQuery(config));
  pool.on('connect', (client) => {
    const clientQuery = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args) => {
      const result = clientQuery(...args);
      // Only the adapter's own promise-style calls; pool.query's callback calls pass through.
      return result instanceof Promise
        ? result.then((r: pg.QueryResult | pg.QueryResult[]) => relabelCharColumns(r))
        : result;
    };
  });
  return pool;
}

async function connectAdapter(
  pool: pg.Pool,
  onRelease?: () => Promise<void>,
): Promise<SqlDriverAdapter> {
  const adapter = await new PrismaPg(pool, { disposeExternalPool: true }).connect();
  const onError = (adapter as unknown as { onError(e: unknown): never }).onError.bind(adapter);
  adapter.executeScript = async (script: string) => {
    const client = await pool.connect();
    try {
      await client.query(script);
    } catch (e) {
      onError(e);
    } finally {
      client.release();
    }
  };
  if (onRelease) {
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      await dispose();
      await onRelease();
    };
  }
  return adapter;
}

/** `url` pointing at another database (its name encoded for the URL path). */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

class MigrationAdapterFactory implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = 'postgres' as const;
  readonly adapterName = '@prisma/adapter-pg';
  private readonly opened: SqlDriverAdapter[] = [];

  constructor(
    private readonly url: string,
    private readonly shadowAdminUrl: string | undefined,
  ) {}

  async connect(): Promise<SqlDriverAdapter> {
    const adapter = await connectAdapter(migrationPool(this.url));
    this.opened.push(adapter);
    return adapter;
  }

  /** A throw-away database for diffs that replay the migrations (`db:diff`). */
  async connectToShadowDb(): Promise<SqlDriverAdapter> {
    const adminUrl = this.shadowAdminUrl ?? this.url;
    const name = `ibhq_shadow_${randomUUID().replaceAll('-', '')}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE "${name}"`);
    } finally {
      await admin.end();
    }
    const adapter = await connectAdapter(migrationPool(withDatabase(adminUrl, name)), async () => {
      const dropper = new pg.Client({ connectionString: adminUrl });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    });
    this.opened.push(adapter);
    return adapter;
  }

  async disposeAll(): Promise<void> {
    await Promise.allSettled(this.opened.splice(0).map((a) => a.dispose()));
  }
}

export interface SchemaFile {
  readonly path: string;
  readonly content: string;
}

export interface SchemaEngineSession {
  readonly engine: engineBindings.SchemaEngine;
  close(): Promise<void>;
}

/**
 * Opens the schema engine against `url`. `shadowAdminUrl` (a role with CREATEDB) is
 * used only by operations that replay migrations into a temporary database.
 */
export async function openSchemaEngine(options: {
  url: string;
  schemaFiles: readonly SchemaFile[];
  shadowAdminUrl?: string;
  onLog?: (line: string) => void;
}): Promise<SchemaEngineSession> {
  const bindings = await loadEngineModule();
  const factory = new MigrationAdapterFactory(options.url, options.shadowAdminUrl);
  const engine = await bindings.SchemaEngine.new(
    { datamodels: options.schemaFiles.map((f) => [f.path, f.content] as [string, string]) },
    (line: string) => options.onLog?.(line),
    bindMigrationAwareSqlAdapterFactory(factory),
  );
  return {
    engine,
    async close() {
      engine.free();
      await factory.disposeAll();
    },
  };
}
