import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffDatabaseToSchema } from '@ibhq/db';

const layout = { prismaDir: path.resolve(import.meta.dirname, '../../prisma') };

describe('schema.prisma and the migrations', () => {
  it('a database built from the migrations is exactly what schema.prisma declares', async () => {
    const diff = await diffDatabaseToSchema(process.env.DATABASE_OWNER_URL!, layout);
    expect(diff).toBe('');
  });
});
