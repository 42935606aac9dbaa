// Flat config: typescript-eslint's type-aware recommended rules over src/, test/ and bench/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

export default tseslint.config(
  { ignores: ['.build/**', 'dist/**', 'node_modules/**', 'web/dist/**', '.trellis/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  // No import cycles (runtime imports; `import type` is erased and cannot make one): modules
  // stay layered (codecs and stages below listeners, telemetry below the proxy), and a module
  // is never half-initialised when another reads it at start.
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'web/src/**/*.ts', 'web/src/**/*.tsx'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.tsx', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ alwaysTryTypes: true, project: ['./tsconfig.json', './web/tsconfig.json'], noWarnOnMultipleProjects: true })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { ...globals.node } },
  },
  // Telemetry is read by the proxy, the control plane and the CLI: it must not depend on the
  // data plane (issue 9). It defines the small interfaces it reads; the proxy satisfies them.
  {
    files: ['src/telemetry/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)proxy(/|$)',
              message: 'src/telemetry/ imports nothing from src/proxy/: define the interface here and let the proxy satisfy it.',
            },
          ],
        },
      ],
    },
  },
  // The dashboard (web/) runs in the browser, not in Node.
  {
    files: ['web/**/*.ts', 'web/**/*.tsx'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
