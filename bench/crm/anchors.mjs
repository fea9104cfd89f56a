// The anchors of scenario "crm": what PostgreSQL does alone for the same work.
import path from 'node:path';
import { withClient } from '../lib/database.mjs';

/** The built libraries (the copy of dist/apps/api the scenario measures). */
const built = (ctx, file) => import(path.join(ctx.apiBuildRoot, file));

/**
 * The export's anchor: the product's own CSV statement (the same columns, the same
 * formula escaping, tags and custom fields), values inlined as the product inlines
 * them, for `psql -c "COPY (...) TO STDOUT"`: PostgreSQL producing the same bytes with
 * no API, no HTTP and no row-level security (the superuser).
 */
export async function exportAnchorCopy(ctx, tenantId) {
  const { exportCsvSql, EXPORT_COPY_OPTIONS } = await built(ctx, 'libs/leads/src/export-format.js');
  const { inlineSql } = await built(ctx, 'libs/db/src/client/scoped-query.js');
  const customFields = await withClient(ctx.urls.admin, async (db) => {
    const { rows } = await db.query(
      `SELECT key FROM "CustomField" WHERE "tenantId" = $1 ORDER BY position, key`,
      [tenantId],
    );
    return rows;
  });
  const statement = exportCsvSql({}, tenantId, customFields, false);
  return `COPY (${inlineSql(statement)}) TO STDOUT ${EXPORT_COPY_OPTIONS.csv}`;
}
