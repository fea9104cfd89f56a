// The foundation scenario's data, also read by the auth scenario: a hundred leads in
// each tenant, and the target lead (one of the first tenant's).
export const LEADS_PER_TENANT = 100;

/**
 * Writes LEADS_PER_TENANT leads in each of `tenantIds` through `db` (as the superuser:
 * row-level security does not apply to it) and picks the target among the first's.
 */
export async function seedLeads(db, tenantIds) {
  await db.query(
    `INSERT INTO "Lead" ("tenantId", id, "displayName", "createdAt", "updatedAt")
     SELECT t.id, gen_random_uuid(), 'Lead ' || g, now() - g * interval '1 minute', now()
       FROM unnest($1::uuid[]) AS t(id), generate_series(1, $2::int) AS g`,
    [tenantIds, LEADS_PER_TENANT],
  );
  await db.query('ANALYZE "Tenant", "Lead"');
  const { rows } = await db.query(
    `SELECT id, "displayName" FROM "Lead" WHERE "tenantId" = $1 AND "displayName" = $2`,
    [tenantIds[0], `Lead ${Math.ceil(LEADS_PER_TENANT / 2)}`],
  );
  const { rows: count } = await db.query('SELECT count(*)::int AS n FROM "Lead"');
  return { leadId: rows[0].id, displayName: rows[0].displayName, leads: count[0].n };
}
