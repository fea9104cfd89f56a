import type { RunningApi } from './apps.js';
import { addMember, bearer, signup, type SignedUp } from './accounts.js';

/** What the CRM tests start the API with (sign-up through a proxy header, fast bcrypt). */
export { ACCOUNTS_ENV as CRM_ENV } from './accounts.js';

export interface Reply<T = unknown> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
  readonly text: string;
}

/** A lead as the API answers it in JSON (declared here, not taken from the product's types). */
export interface LeadJson {
  id: string;
  displayName: string;
  telegramUserId: string | null;
  telegramUsername: string | null;
  phone: string | null;
  email: string | null;
  language: string | null;
  country: string | null;
  source: string;
  sourceDetails: Record<string, unknown>;
  ownerId: string | null;
  stageId: string;
  stageName: string;
  stageChangedAt: string;
  tags: string[];
  customFields: Record<string, unknown>;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** A signed-in caller of one tenant: `call` sends its Bearer token. */
export interface CrmCaller {
  readonly tenantId: string;
  readonly userId: string;
  readonly token: string;
  call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Reply<T>>;
}

function callerOf(api: RunningApi, tenantId: string, userId: string, token: string): CrmCaller {
  return {
    tenantId,
    userId,
    token,
    async call<T>(
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ) {
      const res = await api.request(method, path, {
        body,
        headers: { ...bearer(token), ...headers },
      });
      return res as Reply<T>;
    },
  };
}

/** A new tenant and its owner, signed in. */
export async function crmTenant(
  api: RunningApi,
  tenantName = 'CRM test IB',
): Promise<CrmCaller & { readonly owner: SignedUp }> {
  const owner = await signup(api, { tenantName });
  return { ...callerOf(api, owner.tenantId, owner.userId, owner.token), owner };
}

/** A member of the owner's tenant with `role`, signed in. */
export async function crmMember(
  api: RunningApi,
  tenant: { readonly owner: SignedUp },
  role: 'owner' | 'admin' | 'agent' | 'viewer',
): Promise<CrmCaller> {
  const member = await addMember(api, tenant.owner, role);
  return callerOf(api, tenant.owner.tenantId, member.userId, member.token);
}

/** Creates a lead through POST /v1/leads and answers its view (fails unless 201). */
export async function createLead<T = { id: string; version: number }>(
  caller: CrmCaller,
  body: Record<string, unknown>,
): Promise<T> {
  const res = await caller.call<T>('POST', '/v1/leads', body);
  if (res.status !== 201) throw new Error(`create lead: ${res.status} ${res.text}`);
  return res.body;
}
