import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { AppConfig, asTenantId, DomainError, ErrorCode, type TenantContext } from '@ibhq/core';
import { TenantsService } from '@ibhq/tenants';
import { ACCESS, type Access } from './access.decorators.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by TenantGuard; TenantContextInterceptor runs the handler inside it. */
    tenantContext?: TenantContext;
  }
}

export const DEV_TENANT_HEADER = 'x-tenant-id';

/**
 * Decides which tenant a request acts for; every route not marked @Public() needs
 * one. Until the accounts issue brings sessions and API keys, the only way in is
 * the development switch DEV_TENANT_HEADER (refused in production), which trusts an
 * X-Tenant-Id header. A tenant that does not exist is 401, a suspended one 403.
 */
@Injectable()
export class TenantGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly config: AppConfig,
    private readonly tenants: TenantsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const access = this.reflector.getAllAndOverride<Access | undefined>(ACCESS, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (access?.kind === 'public') return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (!this.config.api.devTenantHeader) {
      throw new DomainError(ErrorCode.Unauthenticated, 'authentication required');
    }
    const header = request.headers[DEV_TENANT_HEADER];
    if (typeof header !== 'string' || header === '') {
      throw new DomainError(
        ErrorCode.Unauthenticated,
        `authentication required: send the ${DEV_TENANT_HEADER} header (development mode)`,
      );
    }
    const tenantId = asTenantId(header, `headers.${DEV_TENANT_HEADER}`);
    const status = await this.tenants.status(tenantId);
    if (status === null) throw new DomainError(ErrorCode.Unauthenticated, 'unknown tenant');
    if (status !== 'active') {
      throw new DomainError(ErrorCode.TenantSuspended, 'this tenant is suspended');
    }
    request.tenantContext = {
      tenantId,
      actor: { type: 'system', id: 'dev-tenant-header' },
      requestId: request.id,
    };
    return true;
  }
}
