import { Controller, Delete, Get, HttpCode, Post, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import {
  type CurrentSession,
  disableTotpBody,
  type DisableTotpBody,
  idParam,
  loginBody,
  type LoginBody,
  type SessionView,
  signupBody,
  type SignupBody,
  SignInService,
  type SignInResult,
  switchTenantBody,
  type SwitchTenantBody,
  telegramLinkBody,
  type TelegramLinkBody,
  telegramSignInBody,
  type TelegramSignInBody,
  totpCodeBody,
  type TotpCodeBody,
  TwoFactorService,
} from '@ibhq/accounts';
import type { ClientInfo } from '@ibhq/core';
import { Public, SignedIn } from '../http/access.decorators.js';
import { SESSION_COOKIE } from '../http/auth.guard.js';
import { Client, UserSession } from '../http/request.decorators.js';
import { ZBody, ZParam } from '../http/zod-params.js';

type Delivered = Omit<SignInResult, 'token'> & { token?: string };

/**
 * Hands the new session over: in the body (bearer token), or as an HttpOnly cookie
 * and not in the body, so the dashboard's scripts never hold it.
 */
function deliver(reply: FastifyReply, result: SignInResult, how: 'token' | 'cookie'): Delivered {
  if (how === 'token') return result;
  void reply.setCookie(SESSION_COOKIE, result.token, {
    httpOnly: true,
    secure: true,
    sameSite: 'lax',
    path: '/',
  });
  const { token: _token, ...rest } = result;
  return rest;
}

function clearCookie(reply: FastifyReply): void {
  void reply.clearCookie(SESSION_COOKIE, {
    httpOnly: true,
    secure: true,
    sameSite: 'lax',
    path: '/',
  });
}

@ApiTags('auth')
@Controller('v1/auth')
export class AuthController {
  constructor(
    private readonly signIn: SignInService,
    private readonly twoFactor: TwoFactorService,
  ) {}

  /** A new tenant and its owner; signed in to it (201). */
  @Post('signup')
  @Public()
  async signup(
    @ZBody(signupBody) body: SignupBody,
    @Client() client: ClientInfo,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Delivered> {
    return deliver(reply, await this.signIn.signup(body, client), body.delivery);
  }

  @Post('login')
  @Public()
  @HttpCode(200)
  async login(
    @ZBody(loginBody) body: LoginBody,
    @Client() client: ClientInfo,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Delivered> {
    return deliver(reply, await this.signIn.login(body, client), body.delivery);
  }

  /** Telegram Login Widget: `{ telegram: { id, first_name, ..., auth_date, hash } }`. */
  @Post('telegram')
  @Public()
  @HttpCode(200)
  async telegram(
    @ZBody(telegramSignInBody) body: TelegramSignInBody,
    @Client() client: ClientInfo,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Delivered> {
    const { telegram, ...factor } = body;
    return deliver(reply, await this.signIn.telegramLogin(telegram, factor, client), body.delivery);
  }

  @Post('telegram/link')
  @SignedIn()
  @HttpCode(200)
  linkTelegram(
    @UserSession() current: CurrentSession,
    @ZBody(telegramLinkBody) body: TelegramLinkBody,
    @Client() client: ClientInfo,
  ) {
    return this.signIn.linkTelegram(current, body.telegram, client);
  }

  @Delete('telegram/link')
  @SignedIn()
  unlinkTelegram(@UserSession() current: CurrentSession, @Client() client: ClientInfo) {
    return this.signIn.unlinkTelegram(current, client);
  }

  @Get('me')
  @SignedIn()
  me(@UserSession() current: CurrentSession) {
    return this.signIn.me(current);
  }

  @Post('switch-tenant')
  @SignedIn()
  @HttpCode(200)
  switchTenant(
    @UserSession() current: CurrentSession,
    @ZBody(switchTenantBody) body: SwitchTenantBody,
    @Client() client: ClientInfo,
  ): Promise<SessionView> {
    return this.signIn.switchTenant(current, body.tenantId, client);
  }

  @Post('logout')
  @SignedIn()
  @HttpCode(204)
  async logout(
    @UserSession() current: CurrentSession,
    @Client() client: ClientInfo,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<void> {
    await this.signIn.logout(current, client);
    clearCookie(reply);
  }

  /** Ends every session of the user, this one included. */
  @Post('logout-all')
  @SignedIn()
  @HttpCode(200)
  async logoutAll(
    @UserSession() current: CurrentSession,
    @Client() client: ClientInfo,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<{ ended: number }> {
    const result = await this.signIn.logoutAll(current, client);
    clearCookie(reply);
    return result;
  }

  @Get('sessions')
  @SignedIn()
  async sessions(@UserSession() current: CurrentSession): Promise<{ items: SessionView[] }> {
    return { items: await this.signIn.listSessions(current) };
  }

  @Delete('sessions/:id')
  @SignedIn()
  @HttpCode(204)
  async revokeSession(
    @UserSession() current: CurrentSession,
    @ZParam('id', idParam) id: string,
    @Client() client: ClientInfo,
  ): Promise<void> {
    await this.signIn.revokeSession(current, id, client);
  }

  /** Starts TOTP enrolment: the secret and the otpauth:// URL for the app. */
  @Post('2fa/enrol')
  @SignedIn()
  @HttpCode(200)
  enrol(@UserSession() current: CurrentSession) {
    return this.twoFactor.enrol(current);
  }

  /** Confirms enrolment with a code from the app; returns the recovery codes, once. */
  @Post('2fa/verify')
  @SignedIn()
  @HttpCode(200)
  verify(
    @UserSession() current: CurrentSession,
    @ZBody(totpCodeBody) body: TotpCodeBody,
    @Client() client: ClientInfo,
  ) {
    return this.twoFactor.confirm(current, body.code, client);
  }

  @Post('2fa/disable')
  @SignedIn()
  @HttpCode(204)
  async disable(
    @UserSession() current: CurrentSession,
    @ZBody(disableTotpBody) body: DisableTotpBody,
    @Client() client: ClientInfo,
  ): Promise<void> {
    await this.twoFactor.disable(current, body, client);
  }

  @Post('2fa/recovery-codes')
  @SignedIn()
  @HttpCode(200)
  recoveryCodes(
    @UserSession() current: CurrentSession,
    @ZBody(totpCodeBody) body: TotpCodeBody,
    @Client() client: ClientInfo,
  ) {
    return this.twoFactor.regenerateRecoveryCodes(current, body.code, client);
  }
}
