// Flat config: typescript-eslint's type-aware recommended rules over src/, test/ and bench/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

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
