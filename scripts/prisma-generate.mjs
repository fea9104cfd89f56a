#!/usr/bin/env node
// Generates the Prisma client (libs/db/src/generated/prisma).
//
// `prisma generate` needs no engine binary, but the CLI insists on locating the
// native schema engine first and would download it; these machines are offline.
// Where the real binary is absent, point PRISMA_SCHEMA_ENGINE_BINARY at a harmless
// executable so the CLI goes on (generate never runs it). Where it is present (a
// machine with internet, a Docker build), nothing is overridden.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const enginesDir = path.dirname(require.resolve('@prisma/engines/package.json'));
const hasRealEngine = readdirSync(enginesDir).some((f) => f.startsWith('schema-engine'));
const env = { ...process.env };
if (!hasRealEngine && !env.PRISMA_SCHEMA_ENGINE_BINARY) {
  const standIn = ['/bin/true', '/usr/bin/true'].find((p) => existsSync(p));
  if (standIn) env.PRISMA_SCHEMA_ENGINE_BINARY = standIn;
}
const prisma = path.join(path.dirname(require.resolve('prisma/package.json')), 'build/index.js');
const result = spawnSync(process.execPath, [prisma, 'generate'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
