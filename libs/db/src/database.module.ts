import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type pg from 'pg';
import { AppConfig } from '@ibhq/core';
import type { PrismaClient } from './generated/prisma/client.js';
import { DatabaseHealth } from './client/database-health.js';
import { PlatformDb } from './client/platform-db.js';
import { createPool, createPrismaRoot, PG_POOL, PRISMA_ROOT } from './client/prisma-root.js';
import { TenantDb } from './client/tenant-db.js';

/** The database for tenant code: TenantDb, and the health probe. */
@Module({
  providers: [
    { provide: PG_POOL, useFactory: createPool, inject: [AppConfig] },
    { provide: PRISMA_ROOT, useFactory: createPrismaRoot, inject: [PG_POOL] },
    TenantDb,
    DatabaseHealth,
  ],
  exports: [PG_POOL, PRISMA_ROOT, TenantDb, DatabaseHealth],
})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(
    @Inject(PRISMA_ROOT) private readonly root: PrismaClient,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.root.$disconnect();
    await this.pool.end();
  }
}

/**
 * Unscoped access to platform tables. A separate module, so that it must be imported
 * on purpose; lint restricts who may.
 */
@Module({
  imports: [DatabaseModule],
  providers: [PlatformDb],
  exports: [PlatformDb],
})
export class PlatformDbModule {}
