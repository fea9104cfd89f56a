import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { Observable } from 'rxjs';
import { runWithTenant } from '@ibhq/core';

/**
 * Runs the route handler inside the tenant context TenantGuard resolved, so that
 * everything it awaits (TenantDb, JobQueue...) sees that tenant and no other.
 * (Guards cannot do it themselves: their async context ends before the handler.)
 */
@Injectable()
export class TenantContextInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const tenant = context.switchToHttp().getRequest<FastifyRequest>().tenantContext;
    if (!tenant) return next.handle();
    return new Observable((subscriber) =>
      runWithTenant(tenant, () => next.handle().subscribe(subscriber)),
    );
  }
}
