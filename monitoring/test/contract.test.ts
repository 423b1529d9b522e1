/**
 * The rule files are rendered from the contract (monitoring/src/rules.ts); these tests hold every job, route
 * matcher and objective in what Prometheus loads (alerts/rules) to monitoring/src/contract.ts, and the
 * service's own names (it ships without this package) to the same values.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { JOB_NAME as APP_MAINTENANCE_JOB } from '../../app/src/jobs/maintenance';
import {
  ALERTMANAGER_JOB,
  CLUSTER_JOBS,
  API_ROUTE_MATCHER,
  APP_JOB,
  CNPG_JOB,
  MAINTENANCE_JOB,
  POSTGRES_EXPORTER_JOB,
  PROMETHEUS_JOB,
  PUSHGATEWAY_JOB,
  REDIS_EXPORTER_JOB,
  ruleFilePaths,
  SLO,
  WATCHDOG_ALERT,
} from '../src';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
}
const rules: Array<Rule & { file: string }> = ruleFilePaths().flatMap((file) =>
  (YAML.parse(fs.readFileSync(file, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) =>
    g.rules.map((r) => ({ ...r, file: path.basename(file) })),
  ),
);
const name = (r: Rule) => r.alert ?? r.record ?? '?';

test('the rule files hold rules to check', () => {
  expect(rules.length).toBeGreaterThan(20);
});

test('every job a rule selects on is one of the contract’s jobs', () => {
  const known = new Set([
    APP_JOB,
    MAINTENANCE_JOB,
    PUSHGATEWAY_JOB,
    ALERTMANAGER_JOB,
    PROMETHEUS_JOB,
    POSTGRES_EXPORTER_JOB,
    REDIS_EXPORTER_JOB,
    ...CLUSTER_JOBS,
    CNPG_JOB,
  ]);
  const unknown = rules.flatMap((r) =>
    [...r.expr.matchAll(/\bjob\s*(=~|!=|!~|=)\s*"([^"]*)"/g)]
      .filter((m) => !known.has(m[2]!))
      .map((m) => `${name(r)}: job${m[1]}"${m[2]}"`),
  );
  const labelled = rules
    .filter((r) => r.labels?.job !== undefined && !known.has(r.labels.job))
    .map((r) => `${name(r)}: label job=${r.labels!.job}`);
  expect([...unknown, ...labelled]).toEqual([]);
});

test('every selector of the service’s HTTP metrics names the service’s job', () => {
  const off = rules.flatMap((r) =>
    [...r.expr.matchAll(/\bhttp_request\w*\{([^}]*)\}/g)]
      .filter((m) => !m[1]!.includes(`job="${APP_JOB}"`))
      .map((m) => `${name(r)}: ${m[0]}`),
  );
  expect(off).toEqual([]);
});

test('the SLO rules count exactly the contract’s API traffic', () => {
  const sli = rules.filter((r) => r.file === 'slo.yml' && r.record?.startsWith('slo:sli_error:'));
  expect(sli.length).toBeGreaterThan(0);
  const off = sli.flatMap((r) =>
    [...r.expr.matchAll(/\bhttp_request\w*\{([^}]*)\}/g)]
      .filter((m) => !m[1]!.includes(API_ROUTE_MATCHER))
      .map((m) => `${name(r)}: ${m[0]}`),
  );
  expect(off).toEqual([]);
});

test('the objectives and the latency threshold in slo.yml are the contract’s', () => {
  const objective = (slo: string) =>
    rules.filter((r) => r.record === 'slo:objective:ratio' && r.labels?.slo === slo).map((r) => r.expr.trim());
  expect(objective('availability')).toEqual([`vector(${SLO.availability.objective})`]);
  expect(objective('latency')).toEqual([`vector(${SLO.latency.objective})`]);
  const thresholds = new Set(rules.flatMap((r) => [...r.expr.matchAll(/_bucket\{[^}]*le="([^"]+)"/g)].map((m) => Number(m[1]))));
  expect([...thresholds]).toEqual([SLO.latency.thresholdSeconds]);
});

test('the maintenance job pushes under the job name the rules and dashboards select on', () => {
  expect(APP_MAINTENANCE_JOB).toBe(MAINTENANCE_JOB);
});

test('the Watchdog of the contract is an alert of the rule files', () => {
  expect(rules.filter((r) => r.alert === WATCHDOG_ALERT)).toHaveLength(1);
});
