import { Injectable } from '@nestjs/common';
import { AuditService } from '@ibhq/audit';
import { currentTenant, NotFoundError, ValidationError, type FieldProblem } from '@ibhq/core';
import { Prisma, TenantDb } from '@ibhq/db';
import type { LeadSource } from './lead-view.js';

export interface AssignmentRuleView {
  readonly source: LeadSource;
  /** User ids of the members taking turns, in turn order. */
  readonly memberIds: readonly string[];
  /** The position (0-based, in memberIds) where the next turn starts looking. */
  readonly nextIndex: number;
  readonly updatedAt: Date;
}

/** Round-robin assignment of new leads. OWNER: tags/custom fields/assignment work. */
@Injectable()
export class AssignmentService {
  constructor(
    private readonly db: TenantDb,
    private readonly audit: AuditService,
  ) {}

  /**
   * The member whose turn it is for a new lead of `source` (advancing the turn), or
   * null when the source has no rule (or none of its members is still a member).
   * Joins an open transaction.
   *
   * One UPDATE ... RETURNING: the row lock serialises concurrent callers, and under
   * READ COMMITTED a waiting UPDATE re-evaluates its SET on the row the winner wrote,
   * so two new leads never get the same turn. Ids that are no longer members are
   * skipped (removing a member also drops them from every rule); when none is left the
   * turn goes back to the start (0, and memberIds[0] is NULL: no owner).
   */
  async nextOwner(source: LeadSource): Promise<string | null> {
    const { tenantId } = currentTenant('AssignmentService.nextOwner');
    const rows = await this.db.query<{ ownerId: string | null }>(Prisma.sql`
      UPDATE "AssignmentRule" r
         SET "nextIndex" = COALESCE((
               SELECT ((r."nextIndex" + g.i - 1) % cardinality(r."memberIds")) + 1
                 FROM generate_series(1, cardinality(r."memberIds")) AS g(i)
                WHERE EXISTS (
                        SELECT 1 FROM "Membership" m
                         WHERE m."tenantId" = r."tenantId"
                           AND m."userId" = r."memberIds"[((r."nextIndex" + g.i - 1) % cardinality(r."memberIds")) + 1])
                ORDER BY g.i LIMIT 1), 0),
             "updatedAt" = now()
       WHERE r."tenantId" = ${tenantId}::uuid AND r."source" = ${source}::"LeadSource"
         AND cardinality(r."memberIds") > 0
      RETURNING r."memberIds"[r."nextIndex"]::text AS "ownerId"`);
    return rows[0]?.ownerId ?? null;
  }

  /** Every rule of the tenant, by source. */
  async rules(): Promise<AssignmentRuleView[]> {
    const { tenantId } = currentTenant('AssignmentService.rules');
    return this.db.query<AssignmentRuleView>(Prisma.sql`
      SELECT "source"::text AS "source", COALESCE("memberIds", '{}')::text[] AS "memberIds",
             "nextIndex", "updatedAt"
        FROM "AssignmentRule"
       WHERE "tenantId" = ${tenantId}::uuid
       ORDER BY "source"`);
  }

  /**
   * Creates or replaces the rule of `source`: `memberIds` (distinct user ids, each a
   * member of the tenant; ValidationError naming `body.memberIds.N` otherwise) take
   * turns from the first. Audited (assignment_rule.set).
   */
  /**
   * A problem for each of `userIds` that is not a member of the tenant, named by
   * `fieldOf(its index)`: owners and rule members must be members. One query.
   */
  async nonMembers(
    userIds: readonly string[],
    fieldOf: (index: number) => string,
  ): Promise<FieldProblem[]> {
    const { tenantId } = currentTenant('AssignmentService.nonMembers');
    const ids = userIds.map((id) => id.toLowerCase());
    const members = await this.db.query<{ userId: string }>(Prisma.sql`
      SELECT "userId"::text AS "userId" FROM "Membership"
       WHERE "tenantId" = ${tenantId}::uuid AND "userId" = ANY(${ids}::uuid[])`);
    const known = new Set(members.map((m) => m.userId));
    return ids.flatMap((id, i) =>
      known.has(id) ? [] : [{ field: fieldOf(i), message: 'is not a member of this tenant' }],
    );
  }

  async setRule(source: LeadSource, memberIds: readonly string[]): Promise<AssignmentRuleView> {
    const { tenantId } = currentTenant('AssignmentService.setRule');
    const ids = memberIds.map((id) => id.toLowerCase());
    return this.db.transaction(async () => {
      const problems = await this.nonMembers(ids, (i) => `body.memberIds.${String(i)}`);
      if (problems.length > 0) throw new ValidationError(problems);
      const [rule] = await this.db.query<AssignmentRuleView>(Prisma.sql`
        INSERT INTO "AssignmentRule" ("tenantId", "source", "memberIds", "nextIndex", "updatedAt")
        VALUES (${tenantId}::uuid, ${source}::"LeadSource", ${ids}::uuid[], 0, now())
        ON CONFLICT ("tenantId", "source")
          DO UPDATE SET "memberIds" = EXCLUDED."memberIds", "nextIndex" = 0, "updatedAt" = now()
        RETURNING "source"::text AS "source", "memberIds"::text[] AS "memberIds", "nextIndex",
                  "updatedAt"`);
      if (!rule) throw new Error('assignment rule upsert returned no row');
      await this.audit.record({
        action: 'assignment_rule.set',
        targetType: 'assignment_rule',
        targetId: source,
        metadata: { source, members: ids, count: ids.length },
      });
      return rule;
    });
  }

  /** Deletes the rule of `source` (new leads of it stay unassigned). Audited. */
  async deleteRule(source: LeadSource): Promise<void> {
    const { tenantId } = currentTenant('AssignmentService.deleteRule');
    await this.db.transaction(async () => {
      const rows = await this.db.query<{ source: string }>(Prisma.sql`
        DELETE FROM "AssignmentRule"
         WHERE "tenantId" = ${tenantId}::uuid AND "source" = ${source}::"LeadSource"
        RETURNING "source"::text AS "source"`);
      if (rows.length === 0) throw new NotFoundError('assignment rule');
      await this.audit.record({
        action: 'assignment_rule.deleted',
        targetType: 'assignment_rule',
        targetId: source,
        metadata: { source },
      });
    });
  }
}

/**
 * A member left the tenant: their leads become unassigned (ownerId NULL, version
 * bumped) and they leave every assignment rule (the turn stays with the member who
 * was next). Answers how many leads were unassigned. A plain function over TenantDb
 * so that member removal (accounts) runs it in its own transaction without depending
 * on the CRM's module. Joins an open transaction.
 */
export async function releaseMember(
  db: TenantDb,
  userId: string,
): Promise<{ unassignedLeads: number }> {
  const { tenantId } = currentTenant('releaseMember');
  return db.transaction(async () => {
    const [leads] = await db.query<{ count: number }>(Prisma.sql`
      WITH changed AS (
        UPDATE "Lead" SET "ownerId" = NULL, "version" = "version" + 1, "updatedAt" = now()
         WHERE "tenantId" = ${tenantId}::uuid AND "ownerId" = ${userId}::uuid
        RETURNING 1)
      SELECT count(*)::int AS "count" FROM changed`);
    await db.query(Prisma.sql`
      UPDATE "AssignmentRule" r
         SET "memberIds" = array_remove(r."memberIds", ${userId}::uuid),
             "nextIndex" = CASE
               WHEN cardinality(r."memberIds") <= 1 THEN 0
               ELSE (r."nextIndex"
                     - CASE WHEN array_position(r."memberIds", ${userId}::uuid) <= r."nextIndex"
                            THEN 1 ELSE 0 END)
                    % (cardinality(r."memberIds") - 1)
             END,
             "updatedAt" = now()
       WHERE r."tenantId" = ${tenantId}::uuid AND ${userId}::uuid = ANY(r."memberIds")`);
    return { unassignedLeads: leads?.count ?? 0 };
  });
}
