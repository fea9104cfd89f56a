import { Injectable } from '@nestjs/common';
import type { MemberRole } from '@ibhq/auth';
import { PlatformDb, Prisma, type User } from '@ibhq/db';

/** A user's place in a tenant, as the user sees it. */
export interface MembershipSummary {
  readonly tenantId: string;
  readonly tenantName: string;
  readonly tenantStatus: 'active' | 'suspended';
  readonly role: MemberRole;
}

export interface UserView {
  readonly id: string;
  readonly email: string;
  readonly displayName: string;
  readonly twoFactorEnabled: boolean;
  readonly telegram: { readonly userId: string; readonly username: string | null } | null;
  readonly createdAt: Date;
}

export const userView = (u: User): UserView => ({
  id: u.id,
  email: u.email,
  displayName: u.displayName,
  twoFactorEnabled: u.totpEnabledAt !== null,
  telegram:
    u.telegramUserId === null
      ? null
      : { userId: u.telegramUserId.toString(), username: u.telegramUsername },
  createdAt: u.createdAt,
});

/**
 * Users are platform rows (one account, several tenants). Their memberships are
 * tenant rows: a user reads their own through the `own_memberships` policy, which
 * needs the user's id as a transaction setting, never through a tenant context.
 */
@Injectable()
export class UserDirectory {
  constructor(private readonly platform: PlatformDb) {}

  findByEmail(email: string): Promise<User | null> {
    return this.platform.user.findUnique({ where: { email } });
  }

  findById(id: string): Promise<User | null> {
    return this.platform.user.findUnique({ where: { id } });
  }

  findByTelegramId(telegramUserId: bigint): Promise<User | null> {
    return this.platform.user.findUnique({ where: { telegramUserId } });
  }

  memberships(userId: string): Promise<MembershipSummary[]> {
    return this.platform.lookup<MembershipSummary>(
      'app.user_id',
      userId,
      Prisma.sql`SELECT m."tenantId", t.name AS "tenantName", t.status AS "tenantStatus", m.role
                   FROM "Membership" m JOIN "Tenant" t ON t.id = m."tenantId"
                  WHERE m."userId" = ${userId}::uuid
                  ORDER BY m."createdAt", m."tenantId"`,
    );
  }

  async membership(userId: string, tenantId: string): Promise<MembershipSummary | null> {
    const all = await this.memberships(userId);
    return all.find((m) => m.tenantId === tenantId) ?? null;
  }

  /**
   * Consumes one recovery code: removed in the same statement that checks it is
   * still there, so a code works once even under concurrent sign-ins.
   */
  async consumeRecoveryCode(userId: string, codeHash: string): Promise<boolean> {
    const count = await this.platform.transaction(
      (tx) => tx.$executeRaw`UPDATE "User"
           SET "recoveryCodeHashes" = array_remove("recoveryCodeHashes", ${codeHash}::char(64)),
               "updatedAt" = now()
         WHERE id = ${userId}::uuid AND ${codeHash}::char(64) = ANY("recoveryCodeHashes")`,
    );
    return count === 1;
  }
}
