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
    // Issue 22: no function over 80 lines outside bench/. The files listed below still hold one and are
    // being split; remove a file from the list when its functions are short. Do not add to it.
    files: ['**/*.ts'],
    ignores: ['bench/**'],
    rules: { 'max-lines-per-function': ['error', { max: 80 }] },
  },
  {
    files: [
      'alerts/test/e2e.test.ts',
      'app/src/app.ts',
      'app/src/http/events.ts',
      'app/test/config.test.ts',
      'app/test/events.test.ts',
      'app/test/faults/instances.test.ts',
      'app/test/maintenance.test.ts',
      'app/test/reads.test.ts',
      'app/test/store.test.ts',
      'dashboards/src/dependencies.ts',
      'dashboards/src/ingest-pipeline.ts',
      'dashboards/src/resources.ts',
      'dashboards/src/service-overview.ts',
      'dashboards/test/dashboards.test.ts',
      'infra/components/alertmanager.ts',
      'infra/components/canary-rollout.ts',
      'infra/components/event-service.ts',
      'infra/components/grafana.ts',
      'infra/components/network-policies.ts',
      'infra/components/operator-monitoring.ts',
      'infra/components/postgres.ts',
      'infra/components/prometheus.ts',
      'infra/program.ts',
      'infra/test/canary-rollout.test.ts',
      'infra/test/cluster-semantics.test.ts',
      'infra/test/operator-mode.test.ts',
      'infra/test/stacks.test.ts',
      'monitoring/src/kubernetes-rules.ts',
      'monitoring/src/rules.ts',
      'tools/image/smoke.ts',
      'tools/local.ts',
      'tools/pin-images/test/pin-images.test.ts',
      'tools/promote/cli.ts',
      'tools/promote/gate.ts',
      'tools/promote/promote.ts',
      'tools/promote/test/promote.test.ts',
    ],
    rules: { 'max-lines-per-function': 'off' },
  },
);
