#!/usr/bin/env node
// `npm run bench [-- scenario] [-- options]`: the benchmarks of bench/ (see
// bench/README.md). Checks that the build they measure exists (building it with
// `npm run build` when it does not), then runs bench/run.mjs with the same arguments
// and exits with its status. Ctrl-C reaches both processes; the runner stops its
// servers, this launcher just waits for it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const required = [
  'dist/apps/api/apps/api/src/main.js',
  'dist/apps/api/apps/api/src/bootstrap.js',
  'dist/apps/cli/libs/db/src/index.js',
];
const missing = required.filter((f) => !existsSync(path.join(root, f)));
if (missing.length > 0) {
  process.stdout.write(
    `bench: the build is missing (${missing.join(', ')}): running \`npm run build\` first\n`,
  );
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const build = spawnSync(npm, ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) {
    process.stderr.write(
      'bench: `npm run build` failed; fix the build, then run `npm run bench`\n',
    );
    process.exit(1);
  }
}

const child = spawn(
  process.execPath,
  [path.join(root, 'bench/run.mjs'), ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
// A terminal's Ctrl-C goes to the whole process group: the runner handles it.
process.on('SIGINT', () => {});
// A signal sent to this process alone is passed on.
process.on('SIGTERM', () => child.kill('SIGTERM'));
process.on('SIGHUP', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
