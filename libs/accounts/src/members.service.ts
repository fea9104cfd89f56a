import { Injectable } from '@nestjs/common';
import { AuditService } from '@ibhq/audit';
import { ApiKeyService, type MemberRole, SessionStore } from '@ibhq/auth';
import {
  currentTenant,
  decodeCursor,
  DomainError,
  encodeCursor,
  ErrorCode,
  NotFoundError,
  type Page,
} from '@ibhq/core';
import { Prisma, TenantDb } from '@ibhq/db';
import { releaseMember } from '@ibhq/leads';
import type { ListQuery } from './accounts.dto.js';

export interface MemberView {
  readonly id: string;
  readonly userId: string;
  readonly email: string;
  readonly displayName: string;
  readonly role: MemberRole;
  readonly twoFactorEnabled: boolean;
  readonly createdAt: Date;
}

/** A member with the account's name and e-mail (users are platform rows). */
const SELECT_MEMBERS = Prisma.sql`
  SELECT m.id, m."userId", u.email, u."displayName", m.role,
         u."totpEnabledAt" IS NOT NULL AS "twoFactorEnabled", m."createdAt"
    FROM "Membership" m JOIN "User" u ON u.id = m."userId"`;

/** The role of whoever acts, for the rules about owners (null: an API key or the system). */
export type ActingRole = MemberRole | 'staff' | null;

/**
 * The members of the current tenant. Owners alone make, unmake or remove owners, and
 * the last owner can be neither demoted nor removed (checked under a lock on the
 * tenant's owners, so two owners demoting each other at once cannot both succeed).
 * A removed member's sessions in the tenant and the API keys they created stop
 * working at once.
 */
@Injectable()
export class MembersService {
  constructor(
    private readonly db: TenantDb,
    private readonly sessions: SessionStore,
    private readonly apiKeys: ApiKeyService,
    private readonly audit: AuditService,
  ) {}

  async list(query: ListQuery): Promise<Page<MemberView>> {
    const after = query.cursor
      ? (decodeCursor(query.cursor, ['date', 'uuid']) as [Date, string])
      : null;
    const rows = await this.db.query<MemberView>(Prisma.sql`
      ${SELECT_MEMBERS}
       ${after ? Prisma.sql`WHERE (m."createdAt", m.id) > (${after[0]}, ${after[1]}::uuid)` : Prisma.empty}
       ORDER BY m."createdAt", m.id
       LIMIT ${query.limit + 1}`);
    const items = rows.slice(0, query.limit);
    const last = items.at(-1);
    return {
      items,
      nextCursor:
        rows.length > query.limit && last
          ? encodeCursor([last.createdAt.toISOString(), last.id])
          : null,
    };
  }

  async get(id: string): Promise<MemberView> {
    const [row] = await this.db.query<MemberView>(
      Prisma.sql`${SELECT_MEMBERS} WHERE m.id = ${id}::uuid`,
    );
    if (!row) throw new NotFoundError('member');
    return row;
  }

  async changeRole(id: string, role: MemberRole, acting: ActingRole): Promise<MemberView> {
    const { tenantId } = currentTenant();
    const before = await this.db.transaction(async (tx) => {
      const { member, owners } = await this.lockOwnersAndFind(id);
      if (member.role === role) return member;
      assertMayChange(member, role, acting, owners);
      await tx.membership.update({ where: { tenantId_id: { tenantId, id } }, data: { role } });
      await this.audit.record({
        action: 'member.role_changed',
        targetType: 'member',
        targetId: id,
        metadata: { userId: member.userId, from: member.role, to: role },
      });
      return member;
    });
    // After the commit: the member's open sessions carry the new role at once.
    if (before.role !== role) await this.sessions.updateRole(before.userId, tenantId, role);
    return { ...before, role };
  }

  async remove(id: string, acting: ActingRole): Promise<void> {
    const { tenantId } = currentTenant();
    const removed = await this.db.transaction(async (tx) => {
      const { member, owners } = await this.lockOwnersAndFind(id);
      assertMayChange(member, null, acting, owners);
      await tx.membership.delete({ where: { tenantId_id: { tenantId, id } } });
      // Their leads become unassigned and they leave every round-robin rule.
      const { unassignedLeads } = await releaseMember(this.db, member.userId);
      const keys = await this.apiKeys.revokeCreatedBy(member.userId);
      await this.audit.record({
        action: 'member.removed',
        targetType: 'member',
        targetId: id,
        metadata: {
          userId: member.userId,
          role: member.role,
          revokedIntegrations: keys,
          unassignedLeads,
        },
      });
      return member;
    });
    await this.sessions.revokeWhere(removed.userId, (s) => s.tenantId === tenantId);
  }

  /** Locks the tenant's owners (FOR UPDATE) and counts them, then finds the member. */
  private async lockOwnersAndFind(id: string): Promise<{ member: MemberView; owners: number }> {
    const owners = await this.db.query(
      Prisma.sql`SELECT id FROM "Membership" WHERE role = 'owner' ORDER BY id FOR UPDATE`,
    );
    return { member: await this.get(id), owners: owners.length };
  }
}

/**
 * Owners alone make, change or remove owners, and the tenant keeps one: `to` is the new
 * role, or null for a removal; `owners` counted under the lock of lockOwnersAndFind.
 */
function assertMayChange(
  member: MemberView,
  to: MemberRole | null,
  acting: ActingRole,
  owners: number,
): void {
  const touchesOwner = member.role === 'owner' || to === 'owner';
  if (touchesOwner && acting !== null && acting !== 'owner') {
    throw new DomainError(ErrorCode.Forbidden, 'only an owner can make, change or remove owners');
  }
  if (member.role === 'owner' && owners <= 1) {
    throw new DomainError(
      ErrorCode.Conflict,
      'a tenant keeps at least one owner: make another member owner first',
    );
  }
}
