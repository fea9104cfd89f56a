// @ts-check
import path from 'node:path';
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const root = import.meta.dirname;

/** The only places allowed to import PlatformDb (platform tables, not tenant data). */
export const PLATFORM_DB_USERS = [
  'libs/db/**',
  'libs/tenants/**',
  'libs/accounts/**',
  'libs/auth/**',
];

/**
 * The architecture as a lint rule: a file may reach code of another app or library
 * only through its public alias (`@ibhq/<lib>`), never by a relative path, and a
 * library never imports an app. A relative import that leaves the unit (`apps/<x>`,
 * `libs/<x>`, `test`, `bench`) it starts in is an error.
 * (eslint-plugin-boundaries does this too, but needs eslint-plugin-import's resolver
 * stack for a two-line check.)
 *
 * @param {string} file absolute path
 */
function unitOf(file) {
  const parts = path.relative(root, file).split(path.sep);
  if (parts[0] === 'apps' || parts[0] === 'libs') return `${parts[0]}/${parts[1] ?? ''}`;
  return parts[0] ?? '';
}

/** @type {import('eslint').ESLint.Plugin} */
const ibhq = {
  rules: {
    boundaries: {
      meta: {
        type: 'problem',
        docs: { description: 'Imports cross apps and libraries only through @ibhq/<lib>' },
        schema: [],
        messages: {
          relative: 'Import of {{target}} leaves {{unit}}: use its public entry @ibhq/<lib>.',
          deep: 'Deep import {{spec}}: import the library from its public entry @ibhq/<lib>.',
          app: 'A library must not import an application ({{spec}}).',
        },
      },
      create(context) {
        const file = context.filename;
        const unit = unitOf(file);
        /** @param {import('estree').Node & { source?: any }} node */
        const check = (node) => {
          const spec =
            node.source && typeof node.source.value === 'string' ? node.source.value : null;
          if (!spec) return;
          if (/^@ibhq\/[^/]+\/.+/.test(spec)) {
            context.report({ node, messageId: 'deep', data: { spec } });
            return;
          }
          if (!spec.startsWith('.')) return;
          const target = path.resolve(path.dirname(file), spec);
          const targetUnit = unitOf(target);
          if (targetUnit === unit) return;
          if (unit.startsWith('libs/') && targetUnit.startsWith('apps/')) {
            context.report({ node, messageId: 'app', data: { spec } });
            return;
          }
          // test/ and bench/ boot the applications (apps/*), but reach libraries only
          // through their public entries, like any other consumer.
          const consumer = unit === 'test' || unit === 'bench';
          if (!consumer || targetUnit.startsWith('libs/')) {
            context.report({
              node,
              messageId: 'relative',
              data: { target: path.relative(root, target), unit },
            });
          }
        };
        return {
          ImportDeclaration: check,
          ExportNamedDeclaration: check,
          ExportAllDeclaration: check,
          ImportExpression: check,
        };
      },
    },
  },
};

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'coverage/**',
      'node_modules/**',
      'libs/db/src/generated/**',
      'bench/results/**',
      '.tmp/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: root,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { ibhq },
    rules: {
      'ibhq/boundaries': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      // Nest modules are classes with decorators and no members.
      '@typescript-eslint/no-extraneous-class': ['error', { allowWithDecorator: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // Nest (and other libraries) declare plain option bags as classes; object literals
      // for them are the documented usage.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      'no-console': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // Unscoped database access only where platform tables are the subject.
    files: ['apps/**/*.ts', 'libs/**/*.ts'],
    ignores: PLATFORM_DB_USERS,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@ibhq/db',
              importNames: ['PlatformDb', 'PlatformDbModule'],
              message:
                'Unscoped (platform) database access is reserved for platform libraries; tenant code uses TenantDb.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: globals.node,
    },
  },
);
