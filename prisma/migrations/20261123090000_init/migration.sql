-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "Region" AS ENUM ('EU', 'US');

-- CreateEnum
CREATE TYPE "TenantStatus" AS ENUM ('active', 'suspended');

-- CreateEnum
CREATE TYPE "ActivityKind" AS ENUM ('note', 'system');

-- CreateTable
CREATE TABLE "Tenant" (
    "id" UUID NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "slug" VARCHAR(63) NOT NULL,
    "region" "Region" NOT NULL DEFAULT 'EU',
    "status" "TenantStatus" NOT NULL DEFAULT 'active',
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Tenant_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Lead" (
    "tenantId" UUID NOT NULL,
    "id" UUID NOT NULL,
    "displayName" VARCHAR(200) NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Lead_pkey" PRIMARY KEY ("tenantId","id")
);

-- CreateTable
CREATE TABLE "LeadActivity" (
    "tenantId" UUID NOT NULL,
    "id" UUID NOT NULL,
    "leadId" UUID NOT NULL,
    "kind" "ActivityKind" NOT NULL,
    "body" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "LeadActivity_pkey" PRIMARY KEY ("tenantId","id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Tenant_slug_key" ON "Tenant"("slug");

-- CreateIndex
CREATE INDEX "Lead_tenantId_createdAt_id_idx" ON "Lead"("tenantId", "createdAt" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "LeadActivity_tenantId_leadId_createdAt_id_idx" ON "LeadActivity"("tenantId", "leadId", "createdAt" DESC, "id" DESC);

-- AddForeignKey
ALTER TABLE "Lead" ADD CONSTRAINT "Lead_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "LeadActivity" ADD CONSTRAINT "LeadActivity_tenantId_leadId_fkey" FOREIGN KEY ("tenantId", "leadId") REFERENCES "Lead"("tenantId", "id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- ===========================================================================
-- Hand-written below this line: roles, privileges, row-level security.
-- (Prisma's differ does not manage these; `npm run db:diff` keeps them out of
-- its output, and test/db/schema-agreement.spec.ts checks the rest.)
-- ===========================================================================

-- The application role, used by the API and the worker: not owner, not superuser,
-- no BYPASSRLS. Its password is never written here: `npm run db:migrate` sets it
-- from DATABASE_URL after the migrations ran.
DO $$
BEGIN
  CREATE ROLE ibhq_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN
    -- Roles are cluster-wide: another database of the cluster created it already.
    NULL;
END
$$;

DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO ibhq_app', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO ibhq_app;
-- Nothing else is granted by default: the owner's tables (the migration history
-- included) are out of the application role's reach unless granted below.

-- Platform table: read and written by the platform paths of the application.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "Tenant" TO ibhq_app;

-- Tenant-owned tables: the tenant is the transaction-local setting app.tenant_id
-- (set with set_config(..., true)); without it no row is visible or writable.
-- After a commit the setting reads '' rather than NULL, hence NULLIF.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "Lead", "LeadActivity" TO ibhq_app;

ALTER TABLE "Lead" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "Lead" FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "Lead"
  USING ("tenantId" = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK ("tenantId" = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE "LeadActivity" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "LeadActivity" FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "LeadActivity"
  USING ("tenantId" = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK ("tenantId" = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
