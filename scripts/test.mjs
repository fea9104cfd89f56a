#!/usr/bin/env node
// The test suite, as CI and the README run it (after scripts/test.sh has installed
// packages and started PostgreSQL and Redis): the gates (lint, typecheck, build)
// and every Vitest test (unit, integration against the real PostgreSQL and Redis,
// end-to-end over HTTP). Each gate counts as one test in the summary; the last line
// printed is the summary, `N passed, N failed[, N skipped]`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const tmp = path.join(root, '.tmp');
mkdirSync(tmp, { recursive: true });

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];

function step(name, command, args) {
  process.stdout.write(`\n=== ${name}: ${[path.basename(command), ...args].join(' ')}\n`);
  const started = Date.now();
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env });
  const ok = result.status === 0;
  process.stdout.write(
    `=== ${name}: ${ok ? 'passed' : 'FAILED'} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
  return ok;
}

function gate(name, command, args) {
  const ok = step(name, command, args);
  if (ok) passed += 1;
  else {
    failed += 1;
    failures.push(name);
  }
  return ok;
}

const node = process.execPath;
const generated = step('prisma generate', node, [path.join(root, 'scripts/prisma-generate.mjs')]);
if (!generated) {
  failed += 1;
  failures.push('prisma generate');
}
gate('lint (eslint)', bin('eslint'), ['--max-warnings', '0', '.']);
gate('format (prettier)', bin('prettier'), ['--check', '--log-level', 'warn', '.']);
gate('typecheck', bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']);
const built =
  gate('build', bin('nest'), ['build', 'api']) &&
  gate('build worker', bin('nest'), ['build', 'worker']) &&
  gate('build cli', bin('nest'), ['build', 'cli']);
if (!built)
  process.stdout.write('build failed: tests that run the built processes will fail too\n');

const report = path.join(tmp, 'vitest-report.json');
rmSync(report, { force: true });
step('tests (vitest)', bin('vitest'), [
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
]);
try {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  passed += json.numPassedTests;
  failed += json.numFailedTests;
  skipped += json.numPendingTests + json.numTodoTests;
  for (const file of json.testResults) {
    for (const t of file.assertionResults) {
      if (t.status === 'failed') failures.push(`${path.relative(root, file.name)} > ${t.fullName}`);
    }
    // A file that failed to load has no test results but did fail.
    if (file.status === 'failed' && file.assertionResults.length === 0) {
      failed += 1;
      failures.push(`${path.relative(root, file.name)} (did not load: ${file.message})`);
    }
  }
} catch (e) {
  failed += 1;
  failures.push(`vitest produced no report (${e.message})`);
}

if (failures.length > 0) {
  process.stdout.write(`\nFailed:\n${failures.map((f) => `  - ${f}`).join('\n')}\n`);
}
process.stdout.write(
  `\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`,
);
process.exit(failed > 0 ? 1 : 0);
