import { Injectable } from '@nestjs/common';
import { AuditService } from '@ibhq/audit';
import { type ApiKeyScope, ApiKeyService, type ApiKeyView, SessionStore } from '@ibhq/auth';
import {
  AppConfig,
  asTenantId,
  type ClientInfo,
  currentTenant,
  DomainError,
  ErrorCode,
  NotFoundError,
} from '@ibhq/core';
import { PlatformDb, TenantDb } from '@ibhq/db';
import { TenantsService } from '@ibhq/tenants';
import type { StaffAccessBody, TenantSettingsBody } from './accounts.dto.js';
import { actingIn } from './audit-scope.js';
import { type CurrentSession, type SignInResult, sessionView } from './sign-in.service.js';
import { UserDirectory, userView } from './users.js';

export interface TenantSettingsView {
  readonly require2faForOwners: boolean;
  readonly apiRateLimitPerMinute: number;
  readonly apiRateLimitIsDefault: boolean;
  /** Agents see and change only the leads they own (row-level security). */
  readonly agentsSeeOwnLeadsOnly: boolean;
}

/** How long a staff break-glass session lasts. */
const STAFF_SESSION_SECONDS = 3600;

/**
 * Tenant administration that must land in the audit trail with the change itself:
 * API keys, the tenant's settings, and IBHQ staff's break-glass access.
 */
@Injectable()
export class TenantAdminService {
  constructor(
    private readonly config: AppConfig,
    private readonly db: TenantDb,
    private readonly platform: PlatformDb,
    private readonly tenants: TenantsService,
    private readonly users: UserDirectory,
    private readonly apiKeys: ApiKeyService,
    private readonly sessions: SessionStore,
    private readonly audit: AuditService,
  ) {}

  createApiKey(input: {
    name: string;
    scopes: readonly ApiKeyScope[];
    expiresAt?: Date | null | undefined;
    createdById: string | null;
  }): Promise<{ key: string; apiKey: ApiKeyView }> {
    return this.db.transaction(async () => {
      const created = await this.apiKeys.create({
        name: input.name,
        scopes: input.scopes,
        expiresAt: input.expiresAt ?? null,
        createdById: input.createdById,
      });
      await this.audit.record({
        action: 'api_key.created',
        targetType: 'api_key',
        targetId: created.apiKey.id,
        metadata: {
          prefix: created.apiKey.prefix,
          scopes: created.apiKey.scopes,
          expiresAt: created.apiKey.expiresAt?.toISOString() ?? null,
        },
      });
      return created;
    });
  }

  revokeApiKey(id: string): Promise<ApiKeyView> {
    return this.db.transaction(async () => {
      const revoked = await this.apiKeys.revoke(id);
      await this.audit.record({
        action: 'api_key.revoked',
        targetType: 'api_key',
        targetId: id,
        metadata: { prefix: revoked.prefix },
      });
      return revoked;
    });
  }

  async settings(): Promise<TenantSettingsView> {
    const tenant = await this.platform.tenant.findUnique({
      where: { id: currentTenant().tenantId },
    });
    if (!tenant) throw new NotFoundError('tenant');
    return this.settingsView(tenant);
  }

  async updateSettings(body: TenantSettingsBody): Promise<TenantSettingsView> {
    const { tenantId } = currentTenant();
    const updated = await this.platform.transaction(
      async (tx) => {
        const tenant = await tx.tenant.update({
          where: { id: tenantId },
          data: {
            ...(body.require2faForOwners !== undefined
              ? { require2faForOwners: body.require2faForOwners }
              : {}),
            ...(body.apiRateLimitPerMinute !== undefined
              ? { apiRateLimitPerMinute: body.apiRateLimitPerMinute }
              : {}),
            ...(body.agentsSeeOwnLeadsOnly !== undefined
              ? { agentsSeeOwnLeadsOnly: body.agentsSeeOwnLeadsOnly }
              : {}),
          },
        });
        await this.audit.record({
          action: 'tenant.settings_changed',
          targetType: 'tenant',
          targetId: tenantId,
          metadata: { ...body },
        });
        return tenant;
      },
      { tenantId },
    );
    this.tenants.forget(tenantId);
    return this.settingsView(updated);
  }

  /**
   * IBHQ staff's break-glass access: a read-only session in one tenant for an hour,
   * only for the e-mails of STAFF_EMAILS, only with a reason, and written to the
   * tenant's own audit trail (and the platform's), where its admins see it.
   */
  async staffAccess(
    current: CurrentSession,
    body: StaffAccessBody,
    client: ClientInfo,
  ): Promise<SignInResult> {
    const user = await this.users.findById(current.session.userId);
    if (!user || !this.config.auth.staffEmails.includes(user.email)) {
      throw new DomainError(ErrorCode.Forbidden, 'only IBHQ staff can open a tenant this way');
    }
    const tenantId = asTenantId(body.tenantId);
    if ((await this.tenants.status(tenantId)) === null) throw new NotFoundError('tenant');
    const { token, session } = await this.sessions.create(
      {
        userId: user.id,
        tenantId,
        role: 'staff',
        mfa: current.session.mfa,
        staffReason: body.reason,
        ...client,
      },
      STAFF_SESSION_SECONDS,
    );
    const entry = {
      action: 'staff.access_granted',
      targetType: 'session',
      targetId: session.id,
      metadata: {
        staffUserId: user.id,
        reason: body.reason,
        tenantId,
        expiresInSeconds: STAFF_SESSION_SECONDS,
      },
    };
    const actor = { type: 'staff', id: user.id } as const;
    await actingIn(tenantId, actor, client, () => this.audit.record(entry));
    await actingIn(null, actor, client, () => this.audit.record(entry));
    return {
      token,
      expiresInSeconds: STAFF_SESSION_SECONDS,
      session: sessionView(session, session.id),
      user: userView(user),
      memberships: [],
    };
  }

  private settingsView(t: {
    require2faForOwners: boolean;
    apiRateLimitPerMinute: number | null;
    agentsSeeOwnLeadsOnly: boolean;
  }): TenantSettingsView {
    return {
      require2faForOwners: t.require2faForOwners,
      apiRateLimitPerMinute: t.apiRateLimitPerMinute ?? this.config.auth.apiKeyRateLimitPerMinute,
      apiRateLimitIsDefault: t.apiRateLimitPerMinute === null,
      agentsSeeOwnLeadsOnly: t.agentsSeeOwnLeadsOnly,
    };
  }
}
