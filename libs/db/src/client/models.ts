import type { Prisma } from '../generated/prisma/client.js';

/**
 * Every Prisma model is either tenant-owned or a platform table, and is listed here.
 * test/isolation/tenant-isolation.spec.ts checks that the lists cover the schema, and that
 * each tenant table has tenantId leading its primary key and forced row-level
 * security in the database.
 */
export const TENANT_MODELS = [
  'lead',
  'leadActivity',
  'membership',
  'invitation',
  'outboxEmail',
  'apiKey',
  'auditEvent',
  'auditHead',
  'stage',
  'leadStageChange',
  'tag',
  'leadTag',
  'customField',
  'assignmentRule',
  'savedView',
  'duplicateDismissal',
  'backgroundJob',
  'jobError',
  'leadImport',
  'leadImportRow',
] as const;
export const PLATFORM_MODELS = ['tenant', 'user'] as const;

export type TenantModel = (typeof TENANT_MODELS)[number];
export type PlatformModel = (typeof PLATFORM_MODELS)[number];

/** A transaction as tenant code sees it: platform tables are not there. */
export type TenantTx = Omit<Prisma.TransactionClient, PlatformModel>;

/** A transaction as platform code sees it: only platform tables and raw SQL. */
export type PlatformTx = Pick<
  Prisma.TransactionClient,
  PlatformModel | '$queryRaw' | '$executeRaw'
>;

/** Model operations that run a query (what the tenant client wraps). */
export const MODEL_OPERATIONS = [
  'findUnique',
  'findUniqueOrThrow',
  'findFirst',
  'findFirstOrThrow',
  'findMany',
  'create',
  'createMany',
  'createManyAndReturn',
  'update',
  'updateMany',
  'updateManyAndReturn',
  'upsert',
  'delete',
  'deleteMany',
  'count',
  'aggregate',
  'groupBy',
] as const;
