import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { CurrentSession } from '@ibhq/accounts';
import { type ClientInfo, DomainError, ErrorCode } from '@ibhq/core';
import { clientOf, type RequestAuth } from './auth.guard.js';

/** `@Client() client`: the caller's address and user agent (for the audit trail). */
export const Client = createParamDecorator((_: unknown, context: ExecutionContext): ClientInfo =>
  clientOf(context.switchToHttp().getRequest<FastifyRequest>()),
);

/** `@UserSession() current`: the signed-in user's own session (routes for users only). */
export const UserSession = createParamDecorator(
  (_: unknown, context: ExecutionContext): CurrentSession => {
    const auth = context.switchToHttp().getRequest<FastifyRequest>().auth;
    if (auth?.kind !== 'session') {
      throw new DomainError(ErrorCode.Forbidden, 'this needs a signed-in user');
    }
    return { token: auth.token, session: auth.session };
  },
);

/** `@Caller() auth`: how the request authenticated (session, API key, development). */
export const Caller = createParamDecorator((_: unknown, context: ExecutionContext): RequestAuth => {
  const auth = context.switchToHttp().getRequest<FastifyRequest>().auth;
  if (!auth) throw new DomainError(ErrorCode.Unauthenticated, 'sign in first');
  return auth;
});

/** The member role of the caller, for rules about owners (null: an API key or the system). */
export function actingRoleOf(auth: RequestAuth) {
  return auth.kind === 'session' ? auth.session.role : null;
}

/** The user behind the caller, if any (API keys and the system have none). */
export function userIdOf(auth: RequestAuth): string | null {
  return auth.kind === 'session' ? auth.session.userId : null;
}
