/** The rules rendered from the contract: what they read, and that the committed files are the rendered ones. */
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';
import {
  BURN_WINDOWS,
  MAINTENANCE_METRICS,
  renderRuleFiles,
  ruleFilePaths,
  ruleFiles,
  SERVICE_METRICS,
  SLI_WINDOWS,
  THIRD_PARTY_METRICS,
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
