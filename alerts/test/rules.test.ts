/** Conventions every alert follows, and that every alert is unit-tested on both sides by promtool. */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ALERTS_DIR, ruleFilePaths, runbookUrl, WATCHDOG_ALERT } from '../../monitoring/src';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface AlertTest {
  alertname: string;
  exp_alerts: unknown[];
}

const RUNBOOK = path.join(ALERTS_DIR, 'runbook.md');
const alerts: Rule[] = ruleFilePaths().flatMap((f) =>
  (YAML.parse(fs.readFileSync(f, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules.filter((r) => r.alert)),
);
/** Burn-rate alerts have one rule per window pair under one name; the runbook has one entry per name. */
const alertNames = [...new Set(alerts.map((a) => a.alert!))].sort();
const promtoolDir = path.join(ALERTS_DIR, 'test', 'promtool');
const alertTests: AlertTest[] = fs
  .readdirSync(promtoolDir)
  .filter((f) => f.endsWith('.test.yml'))
  .flatMap(
    (f) => (YAML.parse(fs.readFileSync(path.join(promtoolDir, f), 'utf8')) as { tests: Array<{ alert_rule_test?: AlertTest[] }> }).tests,
  )
  .flatMap((t) => t.alert_rule_test ?? []);
const runbookHeadings = fs
  .readFileSync(RUNBOOK, 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('## '))
  .map((l) => l.slice(3).trim());

describe('alert rules', () => {
  test('when the rule files are read, then they define the alerts of the issue', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(15);
  });

  test.each(alerts.map((a) => [`${a.alert!}${a.labels?.long ? ` (${a.labels.long}/${a.labels.short})` : ''}`, a] as const))(
    'when %s is read, then it has a PascalCase name, a for, a severity, a static summary, a templated description and its runbook entry',
    (_title, rule) => {
      const name = rule.alert!;
      expect(name).toMatch(/^Event[A-Z][A-Za-z0-9]+$/);
      expect(rule.for).toMatch(/^\d+[smhd]$/);
      // Only the Watchdog has no severity: it never pages or tickets, it feeds the dead man's switch.
      expect(name === WATCHDOG_ALERT ? ['none'] : ['critical', 'warning']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary).toBeTruthy();
      expect(rule.annotations?.summary).not.toContain('{{');
      expect(rule.annotations?.description).toContain('{{');
      expect(rule.annotations?.runbook_url).toBe(runbookUrl(name));
      expect(runbookHeadings).toContain(name);
    },
  );

  test('when the runbook is read, then it has one entry per alert and none for alerts that do not exist', () => {
    expect([...runbookHeadings].sort()).toEqual(alertNames);
  });

  test.each(alertNames.map((a) => [a] as const))('when the promtool tests are read, then %s is tested both firing and silent', (name) => {
    const cases = alertTests.filter((t) => t.alertname === name);
    expect(cases.some((t) => t.exp_alerts.length > 0)).toBe(true);
    // The Watchdog is never silent while rules are evaluated: that silence is what the heartbeat service detects.
    if (name !== WATCHDOG_ALERT) expect(cases.some((t) => t.exp_alerts.length === 0)).toBe(true);
  });

  test('when the burn-rate alerts are read, then each window pair has its own rule, with its long and short windows in labels', () => {
    const burn = alerts.filter((a) => /BudgetBurn/.test(a.alert!));
    const pairs = burn.map((a) => `${a.alert} ${a.labels?.long}/${a.labels?.short} for ${a.for}`).sort();
    expect(pairs).toEqual([
      'EventServiceAvailabilityBudgetBurnFast 1h/5m for 2m',
      'EventServiceAvailabilityBudgetBurnFast 6h/30m for 15m',
      'EventServiceAvailabilityBudgetBurnSlow 1d/2h for 1h',
      'EventServiceAvailabilityBudgetBurnSlow 3d/6h for 3h',
      'EventServiceLatencyBudgetBurnFast 1h/5m for 2m',
      'EventServiceLatencyBudgetBurnFast 6h/30m for 15m',
      'EventServiceLatencyBudgetBurnSlow 1d/2h for 1h',
      'EventServiceLatencyBudgetBurnSlow 3d/6h for 3h',
    ]);
    for (const a of burn) expect(a.expr).toContain(`ratio_rate${a.labels!.long}{`);
    for (const a of burn) expect(a.expr).toContain(`ratio_rate${a.labels!.short}{`);
  });
});
