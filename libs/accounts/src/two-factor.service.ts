import { Injectable } from '@nestjs/common';
import { generateRecoveryCodes, PasswordService, SessionStore, TotpService } from '@ibhq/auth';
import { type ClientInfo, Clock, DomainError, ErrorCode } from '@ibhq/core';
import { PlatformDb } from '@ibhq/db';
import type { DisableTotpBody } from './accounts.dto.js';
import { type CurrentSession, SignInService } from './sign-in.service.js';
import { UserDirectory } from './users.js';

/**
 * TOTP second factor: enrol (a pending secret), verify (turns it on and hands out
 * recovery codes, once), disable (password and a code), new recovery codes.
 */
@Injectable()
export class TwoFactorService {
  constructor(
    private readonly platform: PlatformDb,
    private readonly clock: Clock,
    private readonly users: UserDirectory,
    private readonly passwords: PasswordService,
    private readonly totp: TotpService,
    private readonly sessions: SessionStore,
    private readonly signIn: SignInService,
  ) {}

  /** A new pending secret; it works only after `confirm` with a code from the app. */
  async enrol(current: CurrentSession): Promise<{ secret: string; otpauthUrl: string }> {
    const user = await this.signIn.requireUser(current.session.userId);
    if (user.totpEnabledAt !== null) {
      throw new DomainError(
        ErrorCode.Conflict,
        'two-factor authentication is already on: turn it off first to change the app',
      );
    }
    const { secret, encryptedSecret, otpauthUrl } = this.totp.generate(user.email);
    await this.platform.user.update({
      where: { id: user.id },
      data: { totpSecret: encryptedSecret },
    });
    return { secret, otpauthUrl };
  }

  async confirm(
    current: CurrentSession,
    code: string,
    client: ClientInfo,
  ): Promise<{ recoveryCodes: string[] }> {
    const user = await this.signIn.requireUser(current.session.userId);
    if (user.totpEnabledAt !== null) {
      throw new DomainError(ErrorCode.Conflict, 'two-factor authentication is already on');
    }
    if (user.totpSecret === null) {
      throw new DomainError(ErrorCode.Conflict, 'start with POST /v1/auth/2fa/enrol');
    }
    await this.requireCode(user.id, user.totpSecret, code);
    const { codes, hashes } = generateRecoveryCodes();
    await this.platform.user.update({
      where: { id: user.id },
      data: { totpEnabledAt: this.clock.now(), recoveryCodeHashes: hashes },
    });
    // This session has just proved the second factor.
    await this.sessions.update(current.token, { mfa: true });
    await this.signIn.recordForUser(current.session, client, 'user.mfa_enabled');
    return { recoveryCodes: codes };
  }

  async disable(current: CurrentSession, body: DisableTotpBody, client: ClientInfo) {
    const user = await this.signIn.requireUser(current.session.userId);
    if (user.totpEnabledAt === null) {
      throw new DomainError(ErrorCode.Conflict, 'two-factor authentication is not on');
    }
    if (!(await this.passwords.verify(body.password, user.passwordHash))) {
      throw new DomainError(ErrorCode.Unauthenticated, 'the password is wrong');
    }
    await this.signIn.secondFactor(
      user,
      { totpCode: body.code, recoveryCode: body.recoveryCode },
      client,
    );
    const requiring = (await this.users.memberships(user.id)).filter((m) => m.role === 'owner');
    if (requiring.length > 0) {
      const tenants = await this.platform.tenant.findMany({
        where: { id: { in: requiring.map((m) => m.tenantId) }, require2faForOwners: true },
        select: { name: true },
      });
      if (tenants.length > 0) {
        throw new DomainError(
          ErrorCode.Forbidden,
          `you own a tenant that requires two-factor authentication (${tenants.map((t) => t.name).join(', ')})`,
        );
      }
    }
    await this.platform.user.update({
      where: { id: user.id },
      data: { totpEnabledAt: null, totpSecret: null, recoveryCodeHashes: [] },
    });
    await this.sessions.update(current.token, { mfa: false });
    await this.signIn.recordForUser(current.session, client, 'user.mfa_disabled');
  }

  /** New recovery codes (the old ones stop working), against a current TOTP code. */
  async regenerateRecoveryCodes(
    current: CurrentSession,
    code: string,
    client: ClientInfo,
  ): Promise<{ recoveryCodes: string[] }> {
    const user = await this.signIn.requireUser(current.session.userId);
    if (user.totpEnabledAt === null || user.totpSecret === null) {
      throw new DomainError(ErrorCode.Conflict, 'two-factor authentication is not on');
    }
    await this.requireCode(user.id, user.totpSecret, code);
    const { codes, hashes } = generateRecoveryCodes();
    await this.platform.user.update({
      where: { id: user.id },
      data: { recoveryCodeHashes: hashes },
    });
    await this.signIn.recordForUser(current.session, client, 'user.recovery_codes_regenerated');
    return { recoveryCodes: codes };
  }

  private async requireCode(userId: string, encryptedSecret: string, code: string) {
    if (!(await this.totp.verify(userId, encryptedSecret, code))) {
      throw new DomainError(ErrorCode.ValidationFailed, 'the code is not valid', {
        fields: [{ field: 'body.code', message: 'does not match the authenticator app' }],
      });
    }
  }
}
