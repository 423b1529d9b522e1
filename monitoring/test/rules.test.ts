/** The rules rendered from the contract: what they read, that the committed files are the rendered ones, and that the docs say the same. */
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';
import {
  BURN_WINDOWS,
  CLUSTER_METRICS,
  burnAlertName,
  MAINTENANCE_METRICS,
  renderRuleFiles,
  ruleFilePaths,
  ruleFiles,
  SERVICE_METRICS,
  SLI_WINDOWS,
  SLO,
  THIRD_PARTY_METRICS,
  TSDB_METRICS,
  CNPG_METRICS,
} from '../src';
import { metricReferences } from '../src/promql-names';

const rules = ruleFiles().flatMap((f) => f.groups.flatMap((g) => g.rules));

test('when the rules are rendered, then every metric they read is a metric of the contract, a recorded one or Prometheus’s up', () => {
  const known = new Set<string>([
    'up',
    ...[...Object.values(SERVICE_METRICS), ...Object.values(MAINTENANCE_METRICS)].flatMap((m) => [
      m.name,
      `${m.name}_bucket`,
      `${m.name}_count`,
    ]),
    ...Object.values(THIRD_PARTY_METRICS),
    // kube-state-metrics', the kubelet's and Prometheus' storage metrics, proven in dashboards/test/kubernetes-panels.test.ts.
    ...Object.values(CLUSTER_METRICS).flatMap((metrics) => Object.keys(metrics)),
    ...Object.values(TSDB_METRICS),
    ...Object.values(CNPG_METRICS),
    ...rules.flatMap((r) => ('record' in r ? [r.record] : [])),
  ]);
  const unknown = rules.flatMap((r) =>
    metricReferences(r.expr)
      .filter((ref) => !known.has(ref.name))
      .map((ref) => ref.name),
  );
  expect(unknown).toEqual([]);
});

test('when the burn-window table is rendered, then each pair is one alert per SLO and every window has its SLI', () => {
  const burn = rules.filter((r) => 'alert' in r && /BudgetBurn/.test(r.alert));
  expect(burn).toHaveLength(2 * BURN_WINDOWS.length);
  expect(SLI_WINDOWS).toEqual(['5m', '30m', '1h', '2h', '6h', '1d', '3d']);
  for (const w of SLI_WINDOWS) expect(rules.filter((r) => 'record' in r && r.record === `slo:sli_error:ratio_rate${w}`)).toHaveLength(2);
});

test('when the committed alerts/rules are read, then they are what monitoring/src/rules.ts renders (`make alerts` regenerates them)', () => {
  const rendered = renderRuleFiles();
  const committed = ruleFilePaths();
  expect(committed.map((f) => path.basename(f))).toEqual(Object.keys(rendered).sort());
  const stale = committed.filter(
    (f) => !isDeepStrictEqual(YAML.parse(fs.readFileSync(f, 'utf8')), YAML.parse(rendered[path.basename(f)]!)),
  );
  expect(stale).toEqual([]);
});

test('when docs/observability.md describes the burn-rate alerts, then it names every pair of the burn-window table with its factor and `for`, and the objectives', () => {
  const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'observability.md'), 'utf8').split('\n');
  const row = (alert: string) => doc.find((l) => l.startsWith(`| \`${alert}\` |`)) ?? '';
  const spoken = (d: string) => d.replace(/^(\d+)([mhd])$/, '$1 $2');
  const missing = BURN_WINDOWS.filter((w) => {
    const text = row(burnAlertName('availability', w));
    return !new RegExp(`> ${w.factor}×(?: budget)? over ${spoken(w.long)} and ${spoken(w.short)} \\(for ${spoken(w.for)}\\)`).test(text);
  }).map((w) => `${w.long}/${w.short}`);
  expect(missing).toEqual([]);
  expect(row(burnAlertName('availability', BURN_WINDOWS[0]))).toContain(
    `(objective ${SLO.availability.objective * 100} %, ${SLO.windowDays} d)`,
  );
  expect(doc.find((l) => l.includes('`EventServiceLatencyBudgetBurnFast`'))).toContain(
    `slower than ${SLO.latency.thresholdSeconds} s (objective ${SLO.latency.objective * 100} %)`,
  );
});
