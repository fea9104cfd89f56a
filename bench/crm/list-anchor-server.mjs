// The anchor of the crm scenario's list: the product's own page statements (the built
// libs' findLeadPage: its filter SQL, the LeadView columns, newest first, 51 rows, and
// for free text the same walk-then-gather strategy), run on a bare pg.Pool as the
// application role in the tenant's scope, behind node:http. What the API adds on top:
// routing, auth, validation, the total, JSON and logging.
import http from 'node:http';
import path from 'node:path';
import pg from 'pg';

const build = process.env.BENCH_API_BUILD;
const { findLeadPage, leadFilterFromQuery, leadFilterSql, LEAD_LIST_ORDERS } = await import(
  path.join(build, 'libs/leads/src/index.js')
);
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DATABASE_POOL_SIZE ?? 10),
});

async function page(tenantId, query) {
  const { limit, ...rest } = query;
  const filter = leadFilterFromQuery(rest);
  const take = Number(limit ?? 50) + 1;
  const client = await pool.connect();
  try {
    await client.query(
      `BEGIN; SELECT set_config('app.tenant_id', ${pg.escapeLiteral(tenantId)}, true)`,
    );
    const rows = await findLeadPage(
      async (statement) => (await client.query(statement.text, statement.values)).rows,
      {
        filter,
        where: leadFilterSql(filter, { tenantId }),
        order: LEAD_LIST_ORDERS['-createdAt'],
        after: undefined,
        take,
        tenantId,
      },
    );
    await client.query('COMMIT');
    return rows.slice(0, take - 1);
  } catch (e) {
    await client.query('ROLLBACK');
    throw e;
  } finally {
    client.release();
  }
}

http
  .createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://anchor');
    if (url.pathname === '/ready') return void res.end('ok');
    page(String(req.headers['x-tenant-id']), Object.fromEntries(url.searchParams)).then(
      (rows) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ ids: rows.map((r) => r.id), items: rows }));
      },
      (e) => {
        res.statusCode = 500;
        res.end(String(e));
      },
    );
  })
  .listen(Number(process.env.BENCH_PORT), '127.0.0.1');
