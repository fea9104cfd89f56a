import path from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/**
 * The architecture rules live in eslint.config.js; these tests lint snippets as if
 * they were written in real files of the repository, so a rule that silently stops
 * working fails here.
 */
describe('lint encodes the architecture', () => {
  let eslint: ESLint;
  beforeAll(() => {
    eslint = new ESLint({ cwd: root });
  });

  async function ruleIds(file: string, code: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
    return (result?.messages ?? []).map((m) => m.ruleId ?? `fatal: ${m.message}`);
  }

  it('tenant code may not import the unscoped platform client', async () => {
    const code = "import { PlatformDb } from '@ibhq/db';\nexport type X = PlatformDb;\n";
    expect(await ruleIds('libs/leads/src/leads.service.ts', code)).toContain(
      'no-restricted-imports',
    );
    expect(await ruleIds('apps/api/src/leads/leads.controller.ts', code)).toContain(
      'no-restricted-imports',
    );
    expect(await ruleIds('libs/tenants/src/tenants.service.ts', code)).not.toContain(
      'no-restricted-imports',
    );
  });

  it('libraries are reached only through their public entry', async () => {
    const deep = "export { TenantDb } from '@ibhq/db/src/client/tenant-db.js';\n";
    expect(await ruleIds('libs/leads/src/index.ts', deep)).toContain('ibhq/boundaries');
    const relative = "export { TenantDb } from '../../db/src/index.js';\n";
    expect(await ruleIds('libs/leads/src/index.ts', relative)).toContain('ibhq/boundaries');
    const alias = "export { TenantDb } from '@ibhq/db';\n";
    expect(await ruleIds('libs/leads/src/index.ts', alias)).not.toContain('ibhq/boundaries');
  });

  it('a library never imports an application', async () => {
    const code = "export { createApiApp } from '../../../apps/api/src/bootstrap.js';\n";
    expect(await ruleIds('libs/core/src/index.ts', code)).toContain('ibhq/boundaries');
  });

  it('floating promises and non-exhaustive switches are errors', async () => {
    const floating =
      'async function f(): Promise<void> {}\nexport function g(): void {\n  f();\n}\n';
    expect(await ruleIds('libs/core/src/index.ts', floating)).toContain(
      '@typescript-eslint/no-floating-promises',
    );
    const partial = [
      "type K = 'a' | 'b';",
      'export function h(k: K): number {',
      '  switch (k) {',
      "    case 'a':",
      '      return 1;',
      '  }',
      '  return 0;',
      '}',
      '',
    ].join('\n');
    expect(await ruleIds('libs/core/src/index.ts', partial)).toContain(
      '@typescript-eslint/switch-exhaustiveness-check',
    );
  });
});
