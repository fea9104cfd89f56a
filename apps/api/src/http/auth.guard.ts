import { type CanActivate, type ExecutionContext, Injectable, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  type ApiKeyCount,
  ApiKeyService,
  apiKeyState,
  type AuthenticatedApiKey,
  hashApiKey,
  type Permission,
  RateLimits,
  type RateLimitState,
  roleAllows,
  type Session,
  sessionActor,
  SessionStore,
} from '@ibhq/auth';
import {
  AppConfig,
  asTenantId,
  type ClientInfo,
  DomainError,
  ErrorCode,
  type TenantContext,
  type TenantId,
} from '@ibhq/core';
import { type TenantAccess, TenantsService } from '@ibhq/tenants';
import { ACCESS, type Access } from './access.decorators.js';

/** How a request proved who it is. */
export type RequestAuth =
  | { readonly kind: 'session'; readonly token: string; readonly session: Session }
  | { readonly kind: 'api_key'; readonly key: AuthenticatedApiKey; readonly count: ApiKeyCount }
  | { readonly kind: 'dev' };

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by AuthGuard; TenantContextInterceptor runs the handler inside it. */
    tenantContext?: TenantContext;
    auth?: RequestAuth;
  }
}

/** The dashboard's session cookie (HttpOnly, Secure, SameSite=Lax). */
export const SESSION_COOKIE = 'ibhq_session';
/** Development only (DEV_TENANT_HEADER): act as the system in the tenant this names. */
export const DEV_TENANT_HEADER = 'x-tenant-id';

export function clientOf(request: FastifyRequest): ClientInfo {
  const userAgent = request.headers['user-agent'];
  return {
    ip: request.ip,
    ...(typeof userAgent === 'string' ? { userAgent: userAgent.slice(0, 512) } : {}),
  };
}

const unauthenticated = (message: string) => new DomainError(ErrorCode.Unauthenticated, message);

/**
 * Who may call what. Every route declares its access (access.decorators.ts); one
 * without a declaration is refused, always. Credentials: a session token (the
 * `ibhq_session` cookie or `Authorization: Bearer ibhq_s_...`) or an API key
 * (`Authorization: Bearer ibhq_k_...`); in development, the X-Tenant-Id header.
 *
 * - @Public(): no credentials needed (none are read).
 * - @SignedIn(): a user's session, with or without a tenant chosen.
 * - @Requires(p): a session in a tenant whose role grants p (owners of a tenant that
 *   requires 2FA must have passed it), or an API key with the scope p (rate limited,
 *   RateLimit-* headers on every answer).
 *
 * The handler then runs in the tenant context set here (TenantContextInterceptor).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly logger = new Logger(AuthGuard.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly config: AppConfig,
    private readonly tenants: TenantsService,
    private readonly sessions: SessionStore,
    private readonly apiKeys: ApiKeyService,
    private readonly limits: RateLimits,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const access = this.reflector.getAllAndOverride<Access | undefined>(ACCESS, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!access) {
      // A programming error, refused rather than let through; a test lists every route.
      this.logger.error(
        `${context.getClass().name}.${context.getHandler().name} declares no access: refused`,
      );
      throw new DomainError(ErrorCode.Forbidden, 'this route is not open to anyone');
    }
    if (access.kind === 'public') return true;

    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const auth = await this.authenticate(request);
    request.auth = auth;
    const client = clientOf(request);

    switch (auth.kind) {
      case 'session':
        return this.admitSession(request, access, auth.session, client);
      case 'api_key':
        if (access.kind === 'signed-in') {
          throw new DomainError(ErrorCode.Forbidden, 'this needs a signed-in user, not an API key');
        }
        await this.admitApiKey(http.getResponse<FastifyReply>(), access.permission, auth);
        request.tenantContext = {
          tenantId: auth.key.tenantId,
          actor: { type: 'api_key', id: auth.key.id },
          requestId: request.id,
          client,
        };
        return true;
      case 'dev': {
        if (access.kind === 'signed-in') throw unauthenticated('sign in first');
        const tenantId = asTenantId(
          request.headers[DEV_TENANT_HEADER],
          `headers.${DEV_TENANT_HEADER}`,
        );
        const tenant = await this.tenants.accessOf(tenantId);
        if (tenant === null) throw unauthenticated('unknown tenant');
        assertActive(tenant);
        request.tenantContext = {
          tenantId,
          actor: { type: 'system', id: 'dev-tenant-header' },
          requestId: request.id,
          client,
        };
        return true;
      }
    }
  }

  private async authenticate(request: FastifyRequest): Promise<RequestAuth> {
    const authorization = request.headers.authorization;
    let token: string | undefined;
    if (typeof authorization === 'string' && authorization !== '') {
      const match = /^Bearer ([!-~]{1,512})$/i.exec(authorization);
      if (!match?.[1]) throw unauthenticated('the Authorization header must be "Bearer <token>"');
      token = match[1];
    } else {
      token = request.cookies[SESSION_COOKIE];
    }
    if (token === undefined || token === '') {
      if (this.config.api.devTenantHeader && request.headers[DEV_TENANT_HEADER] !== undefined) {
        return { kind: 'dev' };
      }
      throw unauthenticated(
        'sign in: send the session cookie or an Authorization: Bearer token (session or API key)',
      );
    }
    if (token.startsWith('ibhq_k_')) {
      // The lookup and the request count leave together (one Redis write); the
      // tenant's limit is applied once the key is known.
      const keyHash = hashApiKey(token);
      const [key, count] = await Promise.all([
        this.apiKeys.authenticate(token, keyHash),
        this.limits.countApiKey(keyHash),
      ]);
      if (!key) throw unauthenticated('the API key is not valid, or it was revoked or expired');
      return { kind: 'api_key', key, count };
    }
    const session = await this.sessions.touch(token);
    if (!session) throw unauthenticated('the session has ended: sign in again');
    return { kind: 'session', token, session };
  }

  private async admitSession(
    request: FastifyRequest,
    access: Exclude<Access, { kind: 'public' }>,
    session: Session,
    client: ClientInfo,
  ): Promise<boolean> {
    const actor = sessionActor(session);
    if (access.kind === 'signed-in') {
      if (session.staffReason !== undefined && !staffMayCall(request)) {
        throw new DomainError(
          ErrorCode.Forbidden,
          'a staff session is read-only: it can read and sign out, nothing else',
        );
      }
      // In the session's tenant if it has one, so that what the user does is audited there.
      if (session.tenantId !== null) {
        request.tenantContext = {
          tenantId: asTenantId(session.tenantId),
          actor,
          requestId: request.id,
          client,
        };
      }
      return true;
    }
    if (session.tenantId === null || session.role === null) {
      throw new DomainError(
        ErrorCode.Forbidden,
        'choose a tenant first: POST /v1/auth/switch-tenant with its tenantId',
      );
    }
    const tenantId: TenantId = asTenantId(session.tenantId);
    const tenant = await this.tenants.accessOf(tenantId);
    if (tenant === null) throw unauthenticated('the tenant no longer exists');
    assertActive(tenant);
    if (!roleAllows(session.role, access.permission)) {
      throw new DomainError(
        ErrorCode.Forbidden,
        `your role (${session.role}) does not allow this (${access.permission})`,
      );
    }
    if (session.role === 'owner' && tenant.require2faForOwners && !session.mfa) {
      throw new DomainError(
        ErrorCode.MfaEnrolmentRequired,
        'this tenant requires owners to use two-factor authentication: turn it on (POST /v1/auth/2fa/enrol), then sign in again',
      );
    }
    request.tenantContext = {
      tenantId,
      actor,
      requestId: request.id,
      client,
      // "Agents see only their own leads": row-level security hides every other lead.
      ...(session.role === 'agent' && tenant.agentsSeeOwnLeadsOnly
        ? { leadOwnerScope: session.userId }
        : {}),
    };
    return true;
  }

  private async admitApiKey(
    reply: FastifyReply,
    permission: Permission,
    { key, count }: { key: AuthenticatedApiKey; count: ApiKeyCount },
  ): Promise<void> {
    const tenant = await this.tenants.accessOf(key.tenantId);
    if (tenant === null) throw unauthenticated('the tenant of this API key no longer exists');
    const limit = tenant.apiRateLimitPerMinute ?? this.config.auth.apiKeyRateLimitPerMinute;
    let state: RateLimitState;
    try {
      state = apiKeyState(count, limit);
    } catch (e) {
      setRateLimitHeaders(reply, { limit, remaining: 0, resetSeconds: count.resetSeconds });
      throw e;
    }
    setRateLimitHeaders(reply, state);
    assertActive(tenant);
    if (!(key.scopes as readonly Permission[]).includes(permission)) {
      throw new DomainError(
        ErrorCode.Forbidden,
        `this API key does not have the scope ${permission}`,
      );
    }
  }
}

/** Staff break-glass sessions are read-only, on the user's own routes too. */
const STAFF_SIGNED_IN_WRITES = new Set(['/v1/auth/logout', '/v1/auth/logout-all']);
function staffMayCall(request: FastifyRequest): boolean {
  return request.method === 'GET' || STAFF_SIGNED_IN_WRITES.has(request.routeOptions.url ?? '');
}

function assertActive(tenant: TenantAccess): void {
  if (tenant.status !== 'active') {
    throw new DomainError(ErrorCode.TenantSuspended, 'this tenant is suspended');
  }
}

/** The IETF draft's RateLimit-* fields (draft-ietf-httpapi-ratelimit-headers). */
function setRateLimitHeaders(reply: FastifyReply, state: RateLimitState): void {
  void reply.headers({
    'ratelimit-limit': String(state.limit),
    'ratelimit-remaining': String(Math.max(0, state.remaining)),
    'ratelimit-reset': String(state.resetSeconds),
  });
}
