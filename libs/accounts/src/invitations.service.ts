import { Injectable, Logger } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { AuditService } from '@ibhq/audit';
import { type MemberRole, PasswordService, RateLimits } from '@ibhq/auth';
import {
  AppConfig,
  asTenantId,
  type ClientInfo,
  Clock,
  currentTenant,
  DomainError,
  ErrorCode,
  NotFoundError,
  ValidationError,
} from '@ibhq/core';
import { FernetKeyRing, InvalidSignatureError, SignatureExpiredError, Signer } from '@ibhq/crypto';
import { type Invitation, PlatformDb, Prisma, TenantDb } from '@ibhq/db';
import type { AcceptInvitationBody, CreateInvitationBody } from './accounts.dto.js';
import { actingIn } from './audit-scope.js';
import type { ActingRole } from './members.service.js';
import { UserDirectory } from './users.js';

export interface InvitationView {
  readonly id: string;
  readonly email: string;
  readonly role: MemberRole;
  readonly status: 'pending' | 'accepted' | 'revoked' | 'expired';
  readonly invitedById: string;
  readonly expiresAt: Date;
  readonly createdAt: Date;
}

/** What the invited person sees before accepting (no secret, no other member). */
export interface InvitationPreview {
  readonly tenantName: string;
  readonly email: string;
  readonly role: MemberRole;
  readonly expiresAt: Date;
  readonly accountExists: boolean;
}

const PURPOSE = 'invitation';
interface InvitationClaims {
  readonly t: string;
  readonly i: string;
}

/**
 * Invitations by e-mail: a signed, single-use link that expires. The e-mail goes to
 * the outbox table (its body Fernet-encrypted: the link is a credential) and, outside
 * production, to the log, where the logger masks the link's token like any other
 * credential (`npm run cli -- outbox:show` prints the outbox in development).
 */
@Injectable()
export class InvitationsService {
  private readonly logger = new Logger(InvitationsService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly db: TenantDb,
    private readonly platform: PlatformDb,
    private readonly users: UserDirectory,
    private readonly passwords: PasswordService,
    private readonly limits: RateLimits,
    private readonly signer: Signer,
    private readonly fernet: FernetKeyRing,
    private readonly audit: AuditService,
  ) {}

  async create(
    body: CreateInvitationBody,
    invitedById: string,
    acting: ActingRole,
  ): Promise<InvitationView> {
    const { tenantId } = currentTenant();
    if (body.role === 'owner' && acting !== 'owner' && acting !== null) {
      throw new DomainError(ErrorCode.Forbidden, 'only an owner can invite an owner');
    }
    const ttlSeconds = this.config.auth.invitationTtlHours * 3600;
    const now = this.clock.now();
    const id = uuidv7();
    const token = this.signer.sign(PURPOSE, { t: tenantId, i: id } satisfies InvitationClaims, {
      expiresInSeconds: ttlSeconds,
      now: now.getTime(),
    });
    const link = `${this.config.api.publicUrl}/invitations/accept?token=${token}`;
    const invitation = await this.db.transaction(async (tx) => {
      const [member] = await this.db.query<{ id: string }>(Prisma.sql`
        SELECT m.id FROM "Membership" m JOIN "User" u ON u.id = m."userId"
         WHERE u.email = ${body.email}`);
      if (member) {
        throw new DomainError(ErrorCode.Conflict, 'this e-mail is already a member', {
          fields: [{ field: 'body.email', message: 'is already a member' }],
        });
      }
      // A new invitation replaces the pending ones of the same address.
      await tx.invitation.updateMany({
        where: { email: body.email, acceptedAt: null, revokedAt: null },
        data: { revokedAt: now },
      });
      const created = await tx.invitation.create({
        data: {
          tenantId,
          id,
          email: body.email,
          role: body.role,
          invitedById,
          expiresAt: new Date(now.getTime() + ttlSeconds * 1000),
        },
      });
      const subject = 'You are invited to join a team on IBHQ';
      const text = `You have been invited to join a team on IBHQ as ${body.role}.\n\nAccept: ${link}\n\nThe link works once and expires at ${created.expiresAt.toISOString()}.`;
      const email = await tx.outboxEmail.create({
        data: { tenantId, to: body.email, subject, bodyEncrypted: this.fernet.encrypt(text) },
      });
      await this.audit.record({
        action: 'member.invited',
        targetType: 'invitation',
        targetId: id,
        metadata: { role: body.role },
      });
      return { created, outboxId: email.id, text };
    });
    if (this.config.env === 'production') {
      this.logger.log(`invitation e-mail ${invitation.outboxId} queued in the outbox`);
    } else {
      this.logger.log(
        `invitation e-mail ${invitation.outboxId} (development):\n${invitation.text}`,
      );
    }
    return this.view(invitation.created);
  }

  async list(): Promise<InvitationView[]> {
    const rows = await this.db.invitation.findMany({
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: 500,
    });
    return rows.map((r) => this.view(r));
  }

  async revoke(id: string): Promise<InvitationView> {
    const { tenantId } = currentTenant();
    return this.db.transaction(async (tx) => {
      const found = await tx.invitation.findUnique({ where: { tenantId_id: { tenantId, id } } });
      if (!found) throw new NotFoundError('invitation');
      if (found.acceptedAt !== null || found.revokedAt !== null) return this.view(found);
      const revoked = await tx.invitation.update({
        where: { tenantId_id: { tenantId, id } },
        data: { revokedAt: this.clock.now() },
      });
      await this.audit.record({
        action: 'invitation.revoked',
        targetType: 'invitation',
        targetId: id,
      });
      return this.view(revoked);
    });
  }

  /** Public: what an invitation link is for, so the dashboard can show it. */
  async preview(token: string): Promise<InvitationPreview> {
    const claims = this.verify(token);
    const invitation = await this.usable(claims);
    const tenant = await this.platform.tenant.findUnique({ where: { id: claims.t } });
    return {
      tenantName: tenant?.name ?? '',
      email: invitation.email,
      role: invitation.role,
      expiresAt: invitation.expiresAt,
      accountExists: (await this.users.findByEmail(invitation.email)) !== null,
    };
  }

  /**
   * Public: accepts an invitation. An existing account proves itself with its
   * password; otherwise the account is created. One transaction: the membership,
   * the account and the invitation's use stand or fall together, and a second use
   * of the link finds it used (410).
   */
  async accept(
    body: AcceptInvitationBody,
    client: ClientInfo,
  ): Promise<{ tenantId: string; userId: string; role: MemberRole }> {
    await this.limits.consume('invitation:ip', client.ip ?? 'unknown');
    const claims = this.verify(body.token);
    const invitation = await this.usable(claims);
    const existing = await this.users.findByEmail(invitation.email);
    let userId: string;
    let passwordHash: string | null = null;
    if (existing) {
      if (!(await this.passwords.verify(body.password, existing.passwordHash))) {
        throw new DomainError(
          ErrorCode.Unauthenticated,
          'the password is wrong: an account with this e-mail exists, use its password',
        );
      }
      userId = existing.id;
    } else {
      if (body.displayName === undefined) {
        throw new ValidationError([
          { field: 'body.displayName', message: 'is required to create your account' },
        ]);
      }
      this.passwords.checkPolicy(
        body.password,
        [invitation.email, body.displayName],
        'body.password',
      );
      passwordHash = await this.passwords.hash(body.password);
      userId = uuidv7();
    }
    const tenantId = asTenantId(claims.t);
    await actingIn(tenantId, { type: 'user', id: userId }, client, () =>
      this.platform.transaction(
        async (tx) => {
          const used = await this.db.invitation.updateMany({
            where: { id: invitation.id, acceptedAt: null, revokedAt: null },
            data: { acceptedAt: this.clock.now(), acceptedById: userId },
          });
          if (used.count !== 1) throw gone();
          if (passwordHash !== null && body.displayName !== undefined) {
            await tx.user.create({
              data: {
                id: userId,
                email: invitation.email,
                passwordHash,
                displayName: body.displayName,
              },
            });
          }
          try {
            await this.db.membership.create({
              data: { tenantId, userId, role: invitation.role },
            });
          } catch (e) {
            if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002') {
              throw new DomainError(ErrorCode.Conflict, 'you are already a member of this tenant');
            }
            throw e;
          }
          await this.audit.record({
            action: 'member.joined',
            targetType: 'invitation',
            targetId: invitation.id,
            metadata: { userId, role: invitation.role, newAccount: passwordHash !== null },
          });
        },
        { tenantId },
      ),
    );
    return { tenantId, userId, role: invitation.role };
  }

  private verify(token: string): InvitationClaims {
    try {
      const claims = this.signer.verify<InvitationClaims>(PURPOSE, token, {
        now: this.clock.now().getTime(),
      });
      if (typeof claims.t !== 'string' || typeof claims.i !== 'string') throw invalid();
      return claims;
    } catch (e) {
      if (e instanceof SignatureExpiredError) throw gone('expired');
      if (e instanceof InvalidSignatureError) throw invalid();
      throw e;
    }
  }

  /** The invitation of valid claims, if it can still be used. */
  private async usable(claims: InvitationClaims): Promise<Invitation> {
    const tenantId = asTenantId(claims.t);
    const invitation = await actingIn(
      tenantId,
      { type: 'anonymous', id: 'invitation' },
      undefined,
      () => this.db.invitation.findUnique({ where: { tenantId_id: { tenantId, id: claims.i } } }),
    );
    // Signed by us but gone from the database (tenant deleted): as good as used.
    if (!invitation || invitation.acceptedAt !== null || invitation.revokedAt !== null) {
      throw gone();
    }
    if (invitation.expiresAt <= this.clock.now()) throw gone('expired');
    return invitation;
  }

  private view(r: Invitation): InvitationView {
    const status =
      r.acceptedAt !== null
        ? 'accepted'
        : r.revokedAt !== null
          ? 'revoked'
          : r.expiresAt <= this.clock.now()
            ? 'expired'
            : 'pending';
    return {
      id: r.id,
      email: r.email,
      role: r.role,
      status,
      invitedById: r.invitedById,
      expiresAt: r.expiresAt,
      createdAt: r.createdAt,
    };
  }
}

function invalid(): DomainError {
  return new ValidationError([{ field: 'body.token', message: 'is not a valid invitation link' }]);
}

function gone(why: 'expired' | 'used' = 'used'): DomainError {
  return new DomainError(
    ErrorCode.Gone,
    why === 'expired'
      ? 'this invitation has expired: ask for a new one'
      : 'this invitation was already used or withdrawn: ask for a new one',
  );
}
