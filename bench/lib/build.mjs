// The build under test. The benchmark copies the built API (dist/apps/api) into its
// own folder before it starts, so that every round measures the same build even if
// dist/ is rebuilt meanwhile (other work on the same checkout), and it records a
// fingerprint of what it measured. Package imports of the copy still resolve to the
// repository's node_modules (Node looks upwards from the file).
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { root } from './database.mjs';

export const API_BUILD = 'dist/apps/api';
export const API_MAIN = 'apps/api/src/main.js';
export const PRISMA_CLIENT = 'libs/db/src/generated/prisma/client.js';

function files(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** sha256 over the relative paths and contents of every file under `dir`. */
export function fingerprint(dir) {
  const hash = createHash('sha256');
  for (const file of files(dir)) {
    hash.update(path.relative(dir, file));
    hash.update(readFileSync(file));
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Waits until dist/apps/api has not changed for `quietMs` (a build in progress
 * writes it file by file), then copies it to `into`. Returns where main.js is.
 */
export async function snapshotApiBuild(into, { quietMs = 5_000, maxWaitMs = 180_000, log } = {}) {
  const source = path.join(root, API_BUILD);
  const started = Date.now();
  let said = false;
  for (;;) {
    const main = path.join(source, API_MAIN);
    const newest = existsSync(main)
      ? Math.max(...files(source).map((f) => statSync(f).mtimeMs), statSync(source).mtimeMs)
      : Date.now();
    if (Date.now() - newest >= quietMs) break;
    if (Date.now() - started > maxWaitMs) {
      throw new Error(`${API_BUILD} kept changing for ${maxWaitMs / 1000} s (a build running?)`);
    }
    if (!said) log?.(`${API_BUILD} is being written (a build running?): waiting for it to settle`);
    said = true;
    await sleep(1_000);
  }
  const before = fingerprint(source);
  cpSync(source, into, { recursive: true });
  const after = fingerprint(into);
  if (before !== after) throw new Error(`${API_BUILD} changed while it was copied: try again`);
  return {
    main: path.join(into, API_MAIN),
    prismaClient: path.join(into, PRISMA_CLIENT),
    fingerprint: after,
  };
}
