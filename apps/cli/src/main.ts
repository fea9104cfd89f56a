import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runCommand } from './commands.js';

// A developer's tool: it reads ./.env when there is one (variables already set in
// the environment win), so `npm run db:migrate` works in a fresh shell. The API and
// the worker never do this; they take their environment as given.
if (existsSync('.env')) process.loadEnvFile('.env');

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    print: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const code = await runCommand(positionals[0], { ...values, tenant: positionals[1] }).catch(
  (e: unknown) => {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  },
);
process.exit(code);
