import { Injectable } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { AuditService } from '@ibhq/audit';
import {
  findRecoveryCode,
  hashRecoveryCode,
  PasswordService,
  RateLimits,
  type Role,
  type Session,
  sessionActor,
  SessionStore,
  TelegramLoginVerifier,
  TotpService,
} from '@ibhq/auth';
import {
  AppConfig,
  asTenantId,
  type ClientInfo,
  DomainError,
  ErrorCode,
  NotFoundError,
  type TenantId,
} from '@ibhq/core';
import { PlatformDb, Prisma, TenantDb, type User } from '@ibhq/db';
import { slugify } from '@ibhq/tenants';
import type { LoginBody, SecondFactor, SignupBody } from './accounts.dto.js';
import { actingIn } from './audit-scope.js';
import { type MembershipSummary, UserDirectory, type UserView, userView } from './users.js';

export interface SessionView {
  readonly id: string;
  readonly tenantId: string | null;
  readonly role: Role | null;
  readonly twoFactorPassed: boolean;
  readonly staff: boolean;
  readonly createdAt: string;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly current: boolean;
}

export const sessionView = (s: Session, currentId?: string): SessionView => ({
  id: s.id,
  tenantId: s.tenantId,
  role: s.role,
  twoFactorPassed: s.mfa,
  staff: s.staffReason !== undefined,
  createdAt: s.createdAt,
  ip: s.ip ?? null,
  userAgent: s.userAgent ?? null,
  current: s.id === currentId,
});

/** What a successful sign-in returns: the token once, and where the user can go. */
export interface SignInResult {
  readonly token: string;
  readonly expiresInSeconds: number;
  readonly session: SessionView;
  readonly user: UserView;
  readonly memberships: readonly MembershipSummary[];
}

/** A signed-in request's own session, as the guard found it. */
export interface CurrentSession {
  readonly token: string;
  readonly session: Session;
}

const BAD_CREDENTIALS = 'the e-mail or the password is wrong';

const emailTaken = () =>
  new DomainError(
    ErrorCode.Conflict,
    'an account with this e-mail exists: sign in instead (an owner can invite it to a new tenant)',
    { fields: [{ field: 'body.email', message: 'is taken' }] },
  );

/**
 * Sign-up, sign-in (password or Telegram, with the second factor), tenant choice,
 * sign-out and the user's own sessions.
 */
@Injectable()
export class SignInService {
  constructor(
    private readonly config: AppConfig,
    private readonly platform: PlatformDb,
    private readonly db: TenantDb,
    private readonly users: UserDirectory,
    private readonly passwords: PasswordService,
    private readonly sessions: SessionStore,
    private readonly totp: TotpService,
    private readonly telegram: TelegramLoginVerifier,
    private readonly limits: RateLimits,
    private readonly audit: AuditService,
  ) {}

  /** A new tenant and its owner, in one transaction, then signed in to it. */
  async signup(body: SignupBody, client: ClientInfo): Promise<SignInResult> {
    await this.limits.consume('signup:ip', client.ip ?? 'unknown');
    this.passwords.checkPolicy(
      body.password,
      [body.email, body.displayName, body.tenantName],
      'body.password',
    );
    const { user, tenantId } = await this.createTenantWithOwner(body, client);
    return this.open(user, tenantId, false, client, 'password');
  }

  /**
   * The tenant, its owner's account and membership, and the audit event, in one
   * transaction: all or nothing. The password policy is the caller's (sign-up checks
   * it; the demo seed uses a known password on purpose).
   */
  async createTenantWithOwner(
    body: Pick<SignupBody, 'tenantName' | 'displayName' | 'email' | 'password' | 'region'> & {
      slug?: string;
    },
    client: ClientInfo = {},
  ): Promise<{ tenantId: TenantId; user: User }> {
    if (await this.users.findByEmail(body.email)) throw emailTaken();
    const passwordHash = await this.passwords.hash(body.password);
    const tenantId = asTenantId(uuidv7());
    const userId = uuidv7();
    const slug = body.slug ?? `${slugify(body.tenantName).slice(0, 50)}-${tenantId.slice(-8)}`;
    try {
      const user = await actingIn(tenantId, { type: 'user', id: userId }, client, () =>
        this.platform.transaction(
          async (tx) => {
            await tx.tenant.create({
              data: { id: tenantId, name: body.tenantName, slug, region: body.region },
            });
            const owner = await tx.user.create({
              data: { id: userId, email: body.email, passwordHash, displayName: body.displayName },
            });
            await this.db.membership.create({ data: { tenantId, userId, role: 'owner' } });
            await this.audit.record({
              action: 'auth.signup',
              targetType: 'tenant',
              targetId: tenantId,
              metadata: { region: body.region },
            });
            return owner;
          },
          { tenantId },
        ),
      );
      return { tenantId, user };
    } catch (e) {
      // Two sign-ups of one e-mail at once: the unique index decides.
      if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002') {
        throw emailTaken();
      }
      throw e;
    }
  }

  /**
   * E-mail and password, then the second factor if the user has one. Unknown e-mail
   * and wrong password give the same answer after the same bcrypt work.
   */
  async login(body: LoginBody, client: ClientInfo): Promise<SignInResult> {
    await this.limits.consume('login:ip', client.ip ?? 'unknown');
    await this.limits.consume('login:account', body.email);
    const user = await this.users.findByEmail(body.email);
    const valid = await this.passwords.verify(body.password, user?.passwordHash ?? null);
    if (!user || !valid) {
      await this.failed(user, 'bad_credentials', client);
      throw new DomainError(ErrorCode.Unauthenticated, BAD_CREDENTIALS);
    }
    const mfa = await this.secondFactor(user, body, client);
    await this.limits.reset('login:account', body.email);
    return this.open(user, body.tenantId ?? null, mfa, client, 'password');
  }

  /** The Telegram Login Widget, for a user who linked their Telegram account. */
  async telegramLogin(
    fields: Readonly<Record<string, string | number>>,
    factor: SecondFactor,
    client: ClientInfo,
  ): Promise<SignInResult> {
    await this.limits.consume('telegram:ip', client.ip ?? 'unknown');
    const identity = this.telegram.verify(fields);
    const user = await this.users.findByTelegramId(identity.telegramUserId);
    if (!user) {
      throw new DomainError(
        ErrorCode.Unauthenticated,
        'no IBHQ account is linked to this Telegram account: sign in with your e-mail and link it first',
      );
    }
    const mfa = await this.secondFactor(user, factor, client);
    return this.open(user, factor.tenantId ?? null, mfa, client, 'telegram');
  }

  async linkTelegram(
    current: CurrentSession,
    fields: Readonly<Record<string, string | number>>,
    client: ClientInfo,
  ): Promise<UserView> {
    const identity = this.telegram.verify(fields);
    const { session } = current;
    try {
      const user = await this.platform.user.update({
        where: { id: session.userId },
        data: { telegramUserId: identity.telegramUserId, telegramUsername: identity.username },
      });
      await this.recordForUser(session, client, 'user.telegram_linked');
      return userView(user);
    } catch (e) {
      if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002') {
        throw new DomainError(
          ErrorCode.Conflict,
          'this Telegram account is linked to another IBHQ user',
        );
      }
      throw e;
    }
  }

  async unlinkTelegram(current: CurrentSession, client: ClientInfo): Promise<UserView> {
    const user = await this.platform.user.update({
      where: { id: current.session.userId },
      data: { telegramUserId: null, telegramUsername: null },
    });
    await this.recordForUser(current.session, client, 'user.telegram_unlinked');
    return userView(user);
  }

  /** Moves the session to another of the user's tenants. */
  async switchTenant(
    current: CurrentSession,
    tenantId: string,
    client: ClientInfo,
  ): Promise<SessionView> {
    const { session } = current;
    if (session.staffReason !== undefined) {
      throw new DomainError(ErrorCode.Forbidden, 'a staff session stays in its tenant');
    }
    const membership = await this.users.membership(session.userId, tenantId);
    if (!membership) throw new NotFoundError('tenant');
    const updated = await this.sessions.update(current.token, {
      tenantId,
      role: membership.role,
    });
    if (!updated) throw new DomainError(ErrorCode.Unauthenticated, 'the session has ended');
    await actingIn(tenantId, { type: 'user', id: session.userId }, client, () =>
      this.audit.record({
        action: 'auth.tenant_selected',
        targetType: 'session',
        targetId: session.id,
      }),
    );
    return sessionView(updated, session.id);
  }

  async me(current: CurrentSession): Promise<{
    user: UserView;
    session: SessionView;
    memberships: readonly MembershipSummary[];
  }> {
    const user = await this.requireUser(current.session.userId);
    return {
      user: userView(user),
      session: sessionView(current.session, current.session.id),
      memberships: await this.users.memberships(user.id),
    };
  }

  async logout(current: CurrentSession, client: ClientInfo): Promise<void> {
    await this.sessions.revoke(current.session.userId, current.session.id);
    await this.recordForUser(current.session, client, 'auth.logout');
  }

  /** Ends every session of the user, this one included. */
  async logoutAll(current: CurrentSession, client: ClientInfo): Promise<{ ended: number }> {
    const ended = await this.sessions.revokeWhere(current.session.userId);
    await this.recordForUser(current.session, client, 'auth.logout_all', { ended });
    return { ended };
  }

  async listSessions(current: CurrentSession): Promise<SessionView[]> {
    const all = await this.sessions.list(current.session.userId);
    return all.map((s) => sessionView(s, current.session.id));
  }

  async revokeSession(current: CurrentSession, sessionId: string, client: ClientInfo) {
    if (!(await this.sessions.revoke(current.session.userId, sessionId))) {
      throw new NotFoundError('session');
    }
    await this.recordForUser(current.session, client, 'auth.session_revoked', {}, sessionId);
  }

  /** Audits a user's own action in the session's tenant, or the platform chain. */
  recordForUser(
    session: Session,
    client: ClientInfo,
    action: string,
    metadata: Record<string, unknown> = {},
    sessionId = session.id,
  ): Promise<unknown> {
    const actor = sessionActor(session);
    return actingIn(session.tenantId, actor, client, () =>
      this.audit.record({ action, targetType: 'session', targetId: sessionId, metadata }),
    );
  }

  async requireUser(id: string): Promise<User> {
    const user = await this.users.findById(id);
    if (!user) throw new DomainError(ErrorCode.Unauthenticated, 'the account no longer exists');
    return user;
  }

  /**
   * The second factor of a user who enrolled one: a TOTP code or an unused recovery
   * code. Returns whether one was passed (false: the user has none).
   */
  async secondFactor(
    user: User,
    factor: { totpCode?: string | undefined; recoveryCode?: string | undefined },
    client: ClientInfo,
  ): Promise<boolean> {
    if (user.totpEnabledAt === null || user.totpSecret === null) return false;
    if (factor.totpCode === undefined && factor.recoveryCode === undefined) {
      throw new DomainError(
        ErrorCode.MfaRequired,
        'enter the code of your authenticator app (totpCode) or a recovery code (recoveryCode)',
        { secondFactor: ['totp', 'recovery_code'] },
      );
    }
    await this.limits.consume('mfa:account', user.id);
    let ok: boolean;
    if (factor.totpCode !== undefined) {
      ok = await this.totp.verify(user.id, user.totpSecret, factor.totpCode);
    } else {
      const code = factor.recoveryCode ?? '';
      ok =
        findRecoveryCode(code, user.recoveryCodeHashes) >= 0 &&
        (await this.users.consumeRecoveryCode(user.id, hashRecoveryCode(code)));
    }
    if (!ok) {
      await this.failed(user, 'bad_second_factor', client);
      throw new DomainError(ErrorCode.Unauthenticated, 'the code is not valid');
    }
    return true;
  }

  /** A failed sign-in, in the platform chain: no tenant is known yet. */
  private failed(user: User | null, reason: string, client: ClientInfo): Promise<unknown> {
    return actingIn(null, { type: 'anonymous', id: 'sign-in' }, client, () =>
      this.audit.record({
        action: 'auth.login_failed',
        ...(user ? { targetType: 'user', targetId: user.id } : {}),
        metadata: { reason },
      }),
    );
  }

  /**
   * Opens the session: in the tenant asked for, or the user's only one, or none yet
   * (several tenants: the dashboard lets them choose, then /switch-tenant).
   */
  private async open(
    user: User,
    tenantId: string | null,
    mfa: boolean,
    client: ClientInfo,
    method: 'password' | 'telegram',
  ): Promise<SignInResult> {
    const memberships = await this.users.memberships(user.id);
    let chosen: MembershipSummary | undefined;
    if (tenantId !== null) {
      chosen = memberships.find((m) => m.tenantId === tenantId);
      if (!chosen) {
        throw new DomainError(ErrorCode.Forbidden, 'you are not a member of that tenant', {
          fields: [{ field: 'body.tenantId', message: 'is not one of your tenants' }],
        });
      }
    } else if (memberships.length === 1) {
      chosen = memberships[0];
    }
    const { token, session } = await this.sessions.create({
      userId: user.id,
      tenantId: chosen?.tenantId ?? null,
      role: chosen?.role ?? null,
      mfa,
      ...client,
    });
    await actingIn(session.tenantId, { type: 'user', id: user.id }, client, () =>
      this.audit.record({
        action: 'auth.login',
        targetType: 'session',
        targetId: session.id,
        metadata: { method, secondFactor: mfa },
      }),
    );
    return {
      token,
      expiresInSeconds: this.config.auth.sessionTtlSeconds,
      session: sessionView(session, session.id),
      user: userView(user),
      memberships,
    };
  }
}
