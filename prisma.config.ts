import { defineConfig } from 'prisma/config';

// Used by the Prisma CLI (`prisma generate`, and `prisma migrate deploy` where the
// native schema engine is available). Offline machines migrate with
// `npm run db:migrate`, which applies the same files through Prisma's WebAssembly
// schema engine and records the same `_prisma_migrations` history.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_OWNER_URL ?? '' },
});
