-- Extensions of the CRM: case-insensitive text (usernames, tag and stage names) and
-- trigram search. Both are trusted extensions: the database owner may create them.
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- CreateEnum
CREATE TYPE "LeadSource" AS ENUM ('telegram_dm', 'telegram_group', 'telegram_channel', 'api', 'import', 'manual');

-- CreateEnum
CREATE TYPE "StageKind" AS ENUM ('open', 'won', 'lost');

-- CreateEnum
CREATE TYPE "CustomFieldType" AS ENUM ('text', 'number', 'date', 'boolean', 'single_select', 'multi_select');

-- CreateEnum
CREATE TYPE "JobStatus" AS ENUM ('queued', 'running', 'completed', 'failed');

-- CreateEnum
CREATE TYPE "ImportStatus" AS ENUM ('uploaded', 'queued', 'running', 'completed', 'failed');

-- CreateEnum
CREATE TYPE "ImportOnExisting" AS ENUM ('skip', 'update');

-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "ActivityKind" ADD VALUE 'created';
ALTER TYPE "ActivityKind" ADD VALUE 'stage_changed';
ALTER TYPE "ActivityKind" ADD VALUE 'owner_changed';
ALTER TYPE "ActivityKind" ADD VALUE 'fields_changed';
ALTER TYPE "ActivityKind" ADD VALUE 'message_in';
ALTER TYPE "ActivityKind" ADD VALUE 'message_out';
ALTER TYPE "ActivityKind" ADD VALUE 'task';
ALTER TYPE "ActivityKind" ADD VALUE 'merged';

-- AlterTable
ALTER TABLE "Lead" ADD COLUMN     "country" CHAR(2),
ADD COLUMN     "customFields" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "email" VARCHAR(254),
ADD COLUMN     "emailLocal" CITEXT,
ADD COLUMN     "language" VARCHAR(35),
ADD COLUMN     "mergedIntoId" UUID,
ADD COLUMN     "ownerId" UUID,
ADD COLUMN     "phone" VARCHAR(16),
ADD COLUMN     "phoneNational" VARCHAR(17),
ADD COLUMN     "searchText" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "source" "LeadSource" NOT NULL DEFAULT 'manual',
ADD COLUMN     "sourceDetails" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "stageChangedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
-- NOT NULL once existing leads have a stage (hand-written part below).
ADD COLUMN     "stageId" UUID,
ADD COLUMN     "telegramUserId" BIGINT,
ADD COLUMN     "telegramUsername" CITEXT,
ADD COLUMN     "version" INTEGER NOT NULL DEFAULT 1;

-- AlterTable
ALTER TABLE "LeadActivity" ADD COLUMN     "actorId" VARCHAR(64),
ADD COLUMN     "actorType" "AuditActorType",
ADD COLUMN     "data" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "deletedAt" TIMESTAMPTZ(3),
ADD COLUMN     "doneAt" TIMESTAMPTZ(3),
ADD COLUMN     "dueAt" TIMESTAMPTZ(3),
ADD COLUMN     "editedAt" TIMESTAMPTZ(3),
ADD COLUMN     "externalKey" VARCHAR(200),
ALTER COLUMN "body" SET DEFAULT '';

-- AlterTable
ALTER TABLE "Tenant" ADD COLUMN     "agentsSeeOwnLeadsOnly" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "Stage" (
    "tenantId" UUID NOT NULL,
    "id" UUID NOT NULL,
    "name" CITEXT NOT NULL,
    "kind" "StageKind" NOT NULL DEFAULT 'open',
    "position" INTEGER NOT NULL,
    "archivedAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Stage_pkey" PRIMARY KEY ("tenantId","id")
);

-- CreateTable
CREATE TABLE "LeadStageChange" (
    "tenantId" UUID NOT NULL,
    "id" UUID NOT NULL,
    "leadId" UUID NOT NULL,
    "fromStageId" UUID,
    "toStageId" UUID NOT NULL,
    "actorType" "AuditActorType",
    "actorId" VARCHAR(64),
    "changedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "LeadStageChange_pkey" PRIMARY KEY ("tenantId","id")
);

-- CreateTable
CREATE TABLE "Tag" (
    "tenantId" UUID NOT NULL,
    "id" UUID NOT NULL,
    "name" CITEXT NOT NULL,
    "color" VARCHAR(7),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Tag_pkey" PRIMARY KEY ("tenantId","id")
);

-- CreateTable
CREATE TABLE "LeadTag" (
    "tenantId" UUID NOT NULL,
    "leadId" UUID NOT NULL,
    "tagId" UUID NOT NULL,

    CONSTRAINT "LeadTag_pkey" PRIMARY KEY ("tenantId","leadId","tagId")
);

-- CreateTable
CREATE TABLE "CustomField" (
    "tenantId" UUID NOT NULL,
    "id" UUID NOT NULL,
    "key" VARCHAR(64) NOT NULL,
    "label" VARCHAR(100) NOT NULL,
    "type" "CustomFieldType" NOT NULL,
    "required" BOOLEAN NOT NULL DEFAULT false,
    "options" VARCHAR(100)[] DEFAULT ARRAY[]::VARCHAR(100)[],
    "position" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "CustomField_pkey" PRIMARY KEY ("tenantId","id")
);

-- CreateTable
CREATE TABLE "AssignmentRule" (
    "tenantId" UUID NOT NULL,
    "source" "LeadSource" NOT NULL,
    "memberIds" UUID[],
    "nextIndex" INTEGER NOT NULL DEFAULT 0,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "AssignmentRule_pkey" PRIMARY KEY ("tenantId","source")
);

-- CreateTable
CREATE TABLE "SavedView" (
    "tenantId" UUID NOT NULL,
    "id" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "name" VARCHAR(100) NOT NULL,
    "filter" JSONB NOT NULL,
    "shared" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "SavedView_pkey" PRIMARY KEY ("tenantId","id")
);

-- CreateTable
CREATE TABLE "DuplicateDismissal" (
    "tenantId" UUID NOT NULL,
    "leadId" UUID NOT NULL,
    "otherLeadId" UUID NOT NULL,
    "dismissedBy" VARCHAR(64),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DuplicateDismissal_pkey" PRIMARY KEY ("tenantId","leadId","otherLeadId")
);

-- CreateTable
CREATE TABLE "BackgroundJob" (
    "tenantId" UUID NOT NULL,
    "id" UUID NOT NULL,
    "kind" VARCHAR(40) NOT NULL,
    "status" "JobStatus" NOT NULL DEFAULT 'queued',
    "idempotencyKey" VARCHAR(200),
    "params" JSONB NOT NULL DEFAULT '{}',
    "total" INTEGER NOT NULL DEFAULT 0,
    "done" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "checkpoint" VARCHAR(200),
    "result" JSONB,
    "error" VARCHAR(1000),
    "actorType" "AuditActorType",
    "actorId" VARCHAR(64),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMPTZ(3),
    "finishedAt" TIMESTAMPTZ(3),
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "BackgroundJob_pkey" PRIMARY KEY ("tenantId","id")
);

-- CreateTable
CREATE TABLE "JobError" (
    "tenantId" UUID NOT NULL,
    "jobId" UUID NOT NULL,
    "id" BIGSERIAL NOT NULL,
    "leadId" UUID,
    "rowNumber" INTEGER,
    "field" VARCHAR(100),
    "reason" VARCHAR(500) NOT NULL,

    CONSTRAINT "JobError_pkey" PRIMARY KEY ("tenantId","jobId","id")
);

-- CreateTable
CREATE TABLE "LeadImport" (
    "tenantId" UUID NOT NULL,
    "id" UUID NOT NULL,
    "fileName" VARCHAR(255),
    "checksum" CHAR(64) NOT NULL,
    "byteSize" BIGINT NOT NULL,
    "rowCount" INTEGER NOT NULL,
    "delimiter" VARCHAR(1) NOT NULL,
    "header" VARCHAR(200)[],
    "status" "ImportStatus" NOT NULL DEFAULT 'uploaded',
    "mapping" JSONB,
    "onExisting" "ImportOnExisting",
    "jobId" UUID,
    "actorType" "AuditActorType",
    "actorId" VARCHAR(64),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "LeadImport_pkey" PRIMARY KEY ("tenantId","id")
);

-- CreateTable
CREATE TABLE "LeadImportRow" (
    "tenantId" UUID NOT NULL,
    "importId" UUID NOT NULL,
    "rowNumber" INTEGER NOT NULL,
    "cells" JSONB NOT NULL,

    CONSTRAINT "LeadImportRow_pkey" PRIMARY KEY ("tenantId","importId","rowNumber")
);

-- CreateIndex
CREATE INDEX "Stage_tenantId_position_idx" ON "Stage"("tenantId", "position");

-- CreateIndex
CREATE UNIQUE INDEX "Stage_tenantId_name_key" ON "Stage"("tenantId", "name");

-- CreateIndex
CREATE INDEX "LeadStageChange_tenantId_leadId_changedAt_idx" ON "LeadStageChange"("tenantId", "leadId", "changedAt");

-- CreateIndex
CREATE UNIQUE INDEX "Tag_tenantId_name_key" ON "Tag"("tenantId", "name");

-- CreateIndex
CREATE INDEX "LeadTag_tenantId_tagId_leadId_idx" ON "LeadTag"("tenantId", "tagId", "leadId");

-- CreateIndex
CREATE UNIQUE INDEX "CustomField_tenantId_key_key" ON "CustomField"("tenantId", "key");

-- CreateIndex
CREATE INDEX "SavedView_tenantId_userId_idx" ON "SavedView"("tenantId", "userId");

-- CreateIndex
CREATE INDEX "DuplicateDismissal_tenantId_otherLeadId_idx" ON "DuplicateDismissal"("tenantId", "otherLeadId");

-- CreateIndex
CREATE INDEX "BackgroundJob_tenantId_createdAt_idx" ON "BackgroundJob"("tenantId", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "BackgroundJob_tenantId_kind_idempotencyKey_key" ON "BackgroundJob"("tenantId", "kind", "idempotencyKey");

-- CreateIndex
CREATE INDEX "JobError_tenantId_jobId_rowNumber_idx" ON "JobError"("tenantId", "jobId", "rowNumber");

-- CreateIndex
CREATE INDEX "LeadImport_tenantId_checksum_idx" ON "LeadImport"("tenantId", "checksum");

-- CreateIndex
CREATE INDEX "Lead_tenantId_updatedAt_id_idx" ON "Lead"("tenantId", "updatedAt" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "Lead_tenantId_displayName_id_idx" ON "Lead"("tenantId", "displayName", "id");

-- CreateIndex
CREATE INDEX "Lead_tenantId_stageId_id_idx" ON "Lead"("tenantId", "stageId", "id");

-- CreateIndex
CREATE INDEX "Lead_tenantId_ownerId_id_idx" ON "Lead"("tenantId", "ownerId", "id");

-- CreateIndex
CREATE INDEX "Lead_tenantId_phoneNational_idx" ON "Lead"("tenantId", "phoneNational");

-- CreateIndex
CREATE INDEX "Lead_tenantId_emailLocal_idx" ON "Lead"("tenantId", "emailLocal");

-- CreateIndex
CREATE INDEX "Lead_tenantId_mergedIntoId_idx" ON "Lead"("tenantId", "mergedIntoId");

-- CreateIndex
CREATE INDEX "Lead_searchText_idx" ON "Lead" USING GIN ("searchText" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "Lead_customFields_idx" ON "Lead" USING GIN ("customFields" jsonb_path_ops);

-- CreateIndex
CREATE UNIQUE INDEX "Lead_tenantId_telegramUserId_key" ON "Lead"("tenantId", "telegramUserId");

-- CreateIndex
CREATE UNIQUE INDEX "Lead_tenantId_telegramUsername_key" ON "Lead"("tenantId", "telegramUsername");

-- CreateIndex
CREATE UNIQUE INDEX "Lead_tenantId_phone_key" ON "Lead"("tenantId", "phone");

-- CreateIndex
CREATE UNIQUE INDEX "Lead_tenantId_email_key" ON "Lead"("tenantId", "email");

-- CreateIndex
CREATE INDEX "LeadActivity_tenantId_kind_dueAt_idx" ON "LeadActivity"("tenantId", "kind", "dueAt");

-- CreateIndex
CREATE INDEX "LeadActivity_body_idx" ON "LeadActivity" USING GIN ("body" gin_trgm_ops);

-- CreateIndex
CREATE UNIQUE INDEX "LeadActivity_tenantId_externalKey_key" ON "LeadActivity"("tenantId", "externalKey");

-- AddForeignKey
ALTER TABLE "Lead" ADD CONSTRAINT "Lead_tenantId_stageId_fkey" FOREIGN KEY ("tenantId", "stageId") REFERENCES "Stage"("tenantId", "id") ON DELETE RESTRICT ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "Stage" ADD CONSTRAINT "Stage_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "LeadStageChange" ADD CONSTRAINT "LeadStageChange_tenantId_leadId_fkey" FOREIGN KEY ("tenantId", "leadId") REFERENCES "Lead"("tenantId", "id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "Tag" ADD CONSTRAINT "Tag_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "LeadTag" ADD CONSTRAINT "LeadTag_tenantId_leadId_fkey" FOREIGN KEY ("tenantId", "leadId") REFERENCES "Lead"("tenantId", "id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "LeadTag" ADD CONSTRAINT "LeadTag_tenantId_tagId_fkey" FOREIGN KEY ("tenantId", "tagId") REFERENCES "Tag"("tenantId", "id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "CustomField" ADD CONSTRAINT "CustomField_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "AssignmentRule" ADD CONSTRAINT "AssignmentRule_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "SavedView" ADD CONSTRAINT "SavedView_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "DuplicateDismissal" ADD CONSTRAINT "DuplicateDismissal_tenantId_leadId_fkey" FOREIGN KEY ("tenantId", "leadId") REFERENCES "Lead"("tenantId", "id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "DuplicateDismissal" ADD CONSTRAINT "DuplicateDismissal_tenantId_otherLeadId_fkey" FOREIGN KEY ("tenantId", "otherLeadId") REFERENCES "Lead"("tenantId", "id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "BackgroundJob" ADD CONSTRAINT "BackgroundJob_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "JobError" ADD CONSTRAINT "JobError_tenantId_jobId_fkey" FOREIGN KEY ("tenantId", "jobId") REFERENCES "BackgroundJob"("tenantId", "id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "LeadImport" ADD CONSTRAINT "LeadImport_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- AddForeignKey
ALTER TABLE "LeadImportRow" ADD CONSTRAINT "LeadImportRow_tenantId_importId_fkey" FOREIGN KEY ("tenantId", "importId") REFERENCES "LeadImport"("tenantId", "id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- ===========================================================================
-- Hand-written below this line: grants and row-level security of new tables.
-- Every tenant-owned table needs: GRANT ... TO ibhq_app; ENABLE and FORCE
-- ROW LEVEL SECURITY; the tenant_isolation policy (see the init migration).
-- ===========================================================================

GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE
  "Stage", "LeadStageChange", "Tag", "LeadTag", "CustomField", "AssignmentRule",
  "SavedView", "DuplicateDismissal", "BackgroundJob", "JobError", "LeadImport", "LeadImportRow"
  TO ibhq_app;
GRANT USAGE ON SEQUENCE "JobError_id_seq" TO ibhq_app;

-- UUIDv7 (time-ordered, like Prisma's uuid(7)) for rows created in SQL; PostgreSQL 15
-- has no uuidv7() of its own.
CREATE FUNCTION ibhq_uuidv7() RETURNS uuid
  LANGUAGE sql VOLATILE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1), 'hex')::uuid
$$;

-- The IB funnel every tenant starts with, created the first time the tenant needs a
-- stage (its first lead, or the first look at its pipeline). Runs with the caller's
-- rights, so row-level security confines it to the caller's tenant.
CREATE FUNCTION ibhq_default_stage(tenant uuid) RETURNS uuid
  LANGUAGE plpgsql AS $$
DECLARE
  stage uuid;
BEGIN
  SELECT id INTO stage FROM "Stage"
   WHERE "tenantId" = tenant AND kind = 'open' AND "archivedAt" IS NULL
   ORDER BY position, id LIMIT 1;
  IF stage IS NOT NULL THEN
    RETURN stage;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM "Stage" WHERE "tenantId" = tenant) THEN
    INSERT INTO "Stage" ("tenantId", id, name, kind, position, "updatedAt")
    SELECT tenant, ibhq_uuidv7(), s.name, s.kind::"StageKind", s.position, now()
      FROM (VALUES ('New', 'open', 1), ('Contacted', 'open', 2), ('Interested', 'open', 3),
                   ('Registered', 'open', 4), ('KYC verified', 'open', 5), ('Funded', 'open', 6),
                   ('Active trader', 'won', 7), ('Lost', 'lost', 8)) AS s(name, kind, position)
    ON CONFLICT ("tenantId", name) DO NOTHING;
  END IF;
  SELECT id INTO stage FROM "Stage"
   WHERE "tenantId" = tenant AND kind = 'open' AND "archivedAt" IS NULL
   ORDER BY position, id LIMIT 1;
  IF stage IS NULL THEN
    RAISE EXCEPTION 'the tenant has no open stage to put a new lead in'
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN stage;
END
$$;

-- A lead inserted without a stage (the column's nil-UUID default) starts in the first
-- open stage.
CREATE FUNCTION lead_default_stage() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."stageId" IS NULL OR NEW."stageId" = '00000000-0000-0000-0000-000000000000' THEN
    NEW."stageId" := ibhq_default_stage(NEW."tenantId");
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER lead_default_stage BEFORE INSERT ON "Lead"
  FOR EACH ROW EXECUTE FUNCTION lead_default_stage();

-- Existing leads (and their tenants' funnels): the migration runs as the tables'
-- owner, whom FORCEd row-level security would confine to no tenant at all.
ALTER TABLE "Lead" NO FORCE ROW LEVEL SECURITY;
UPDATE "Lead" SET "stageId" = ibhq_default_stage("tenantId"), "searchText" = lower("displayName")
 WHERE "stageId" IS NULL;
ALTER TABLE "Lead" FORCE ROW LEVEL SECURITY;
ALTER TABLE "Lead" ALTER COLUMN "stageId" SET NOT NULL,
  ALTER COLUMN "stageId" SET DEFAULT '00000000-0000-0000-0000-000000000000'::uuid;

-- Likely duplicates with the same name in the same country (DuplicatesService): an
-- equi-join key, so the candidate search never compares every lead with every other.
CREATE INDEX "Lead_duplicate_name_idx" ON "Lead" ("tenantId", lower("displayName"), "country")
  INCLUDE ("displayName") WHERE "country" IS NOT NULL AND "mergedIntoId" IS NULL;

-- Full-text search over notes (the trigram index beside it finds partial words).
CREATE INDEX "LeadActivity_note_fts_idx" ON "LeadActivity"
  USING GIN (to_tsvector('simple', body)) WHERE kind = 'note';

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['Stage', 'LeadStageChange', 'Tag', 'LeadTag', 'CustomField',
                           'AssignmentRule', 'SavedView', 'DuplicateDismissal', 'BackgroundJob',
                           'JobError', 'LeadImport', 'LeadImportRow'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I
         USING ("tenantId" = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)
         WITH CHECK ("tenantId" = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)',
      t);
  END LOOP;
END
$$;

-- "Agents see only their own leads": when the request's actor is such an agent,
-- TenantDb sets app.lead_owner to their user id, and this restrictive policy (ANDed
-- with tenant_isolation) hides every other lead from reads, updates and deletes. Such
-- an agent may still create leads for others and hand a lead over.
-- (Written as a CASE: the planner estimates an OR of the two as a tiny fraction of the
-- rows and then picks sequential scans and full sorts for every list.)
CREATE POLICY own_leads_only ON "Lead" AS RESTRICTIVE
  USING (CASE WHEN NULLIF(current_setting('app.lead_owner', true), '') IS NULL THEN true
              ELSE "ownerId" = NULLIF(current_setting('app.lead_owner', true), '')::uuid END)
  WITH CHECK (true);
