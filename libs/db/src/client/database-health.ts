import { Inject, Injectable } from '@nestjs/common';
import type { PrismaClient } from '../generated/prisma/client.js';
import { PRISMA_ROOT } from './prisma-root.js';

/** Readiness probe of the database (a `SELECT 1` through the application pool). */
@Injectable()
export class DatabaseHealth {
  constructor(@Inject(PRISMA_ROOT) private readonly root: PrismaClient) {}

  async ping(): Promise<void> {
    await this.root.$queryRaw`SELECT 1`;
  }
}
