import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { asTenantId, DomainError, ErrorCode, NotFoundError, type TenantId } from '@ibhq/core';
import { $Enums, PlatformDb, Prisma, type Tenant } from '@ibhq/db';

export const createTenantInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  slug: z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'lower-case letters, digits and dashes (1-63)')
    .optional(),
  region: z.enum($Enums.Region).default($Enums.Region.EU),
});
export type CreateTenantInput = z.input<typeof createTenantInput>;

export interface TenantView {
  readonly id: TenantId;
  readonly name: string;
  readonly slug: string;
  readonly region: $Enums.Region;
  readonly status: $Enums.TenantStatus;
  readonly createdAt: Date;
}

const toView = (t: Tenant): TenantView => ({
  id: asTenantId(t.id),
  name: t.name,
  slug: t.slug,
  region: t.region,
  status: t.status,
  createdAt: t.createdAt,
});

/** A slug from a name: lower-case ASCII words joined by dashes. */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50)
    .replace(/-+$/, '');
  return slug || 'tenant';
}

export interface TenantAccess {
  readonly status: $Enums.TenantStatus;
  readonly require2faForOwners: boolean;
  /** null: the deployment's default. */
  readonly apiRateLimitPerMinute: number | null;
  /** Agents see and change only the leads they own (AuthGuard sets leadOwnerScope). */
  readonly agentsSeeOwnLeadsOnly: boolean;
}

/** How long a tenant's status is trusted from memory on the request path. */
const STATUS_TTL_MS = 10_000;

/** Tenants are platform rows: this service is one of the few users of PlatformDb. */
@Injectable()
export class TenantsService {
  /** id -> what the request path needs, or null for "no such tenant" (cached too). */
  private readonly access = new LRUCache<string, { access: TenantAccess | null }>({
    max: 50_000,
    ttl: STATUS_TTL_MS,
  });

  constructor(private readonly db: PlatformDb) {}

  /**
   * What the authentication path needs of a tenant (status, settings), or null if
   * there is none, from a short-lived cache: it is asked on every request. A change
   * made elsewhere takes effect within STATUS_TTL_MS (at once in this process, see
   * forget()).
   */
  async accessOf(id: TenantId): Promise<TenantAccess | null> {
    const cached = this.access.get(id);
    if (cached) return cached.access;
    const row = await this.db.tenant.findUnique({
      where: { id },
      select: {
        status: true,
        require2faForOwners: true,
        apiRateLimitPerMinute: true,
        agentsSeeOwnLeadsOnly: true,
      },
    });
    this.access.set(id, { access: row });
    return row;
  }

  async status(id: TenantId): Promise<$Enums.TenantStatus | null> {
    return (await this.accessOf(id))?.status ?? null;
  }

  /** Drops the cached access of a tenant whose settings or status just changed. */
  forget(id: TenantId): void {
    this.access.delete(id);
  }

  async create(input: CreateTenantInput): Promise<TenantView> {
    const data = createTenantInput.parse(input);
    const slug = data.slug ?? slugify(data.name);
    try {
      return toView(
        await this.db.tenant.create({ data: { name: data.name, slug, region: data.region } }),
      );
    } catch (e) {
      if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002') {
        throw new DomainError(ErrorCode.Conflict, `the slug "${slug}" is taken`, {
          fields: [{ field: 'slug', message: 'is taken' }],
        });
      }
      throw e;
    }
  }

  async get(id: TenantId): Promise<TenantView> {
    const tenant = await this.db.tenant.findUnique({ where: { id } });
    if (!tenant) throw new NotFoundError('tenant');
    return toView(tenant);
  }

  async findBySlug(slug: string): Promise<TenantView | null> {
    const tenant = await this.db.tenant.findUnique({ where: { slug } });
    return tenant ? toView(tenant) : null;
  }
}
