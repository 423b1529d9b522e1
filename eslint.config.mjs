import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', 'out/**', '.local/**', 'dashboards/json/**', 'bench/results/**', 'infra/crds/models/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', process: 'readonly', console: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // Tests read JSON responses whose shape the assertions themselves check.
    files: ['**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // No function over 80 lines outside bench/ (tests included): split a longer one into named steps.
    files: ['**/*.ts'],
    ignores: ['bench/**'],
    rules: { 'max-lines-per-function': ['error', { max: 80 }] },
  },
);
