/**
 * Checks behind `make alerts-check` / `make prometheus-config-check` that need the rendered files:
 *   render DIR   writes prometheus.yml, alertmanager.yml and Grafana provisioning with example addresses
 *   routes FILE  proves with `amtool config routes test` that every alert in alerts/rules reaches the
 *                receiver its severity asks for (critical → pager, warning → ticket), and the Watchdog
 *                reaches the heartbeat receiver only
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import YAML from 'yaml';
import { APP_JOB, ruleFilePaths, WATCHDOG_ALERT, writeMonitoringFiles } from '../monitoring/src';

const RECEIVER_BY_SEVERITY: Record<string, string> = { critical: 'pager', warning: 'ticket' };

interface AlertRule {
  alert: string;
  labels?: Record<string, string>;
}

function alerts(): AlertRule[] {
  return ruleFilePaths().flatMap((file) =>
    (YAML.parse(fs.readFileSync(file, 'utf8')) as { groups: Array<{ rules: Array<Partial<AlertRule>> }> }).groups.flatMap((g) =>
      g.rules.filter((r): r is AlertRule => typeof r.alert === 'string'),
    ),
  );
}

function render(dir: string): void {
  // Example addresses only: nothing is started, the files are checked by promtool and amtool.
  const files = writeMonitoringFiles(dir, {
    appTargets: ['127.0.0.1:8080'],
    pushgatewayTarget: '127.0.0.1:9091',
    alertmanagerTargets: ['127.0.0.1:9093'],
    prometheusTarget: '127.0.0.1:9090',
    postgresExporterTargets: ['127.0.0.1:9187'],
    redisExporterTargets: ['127.0.0.1:9121'],
    scrapeInterval: '15s',
    evaluationInterval: '15s',
    externalLabels: { stage: 'check' },
    pagerUrl: process.env.PAGER_WEBHOOK_URL ?? 'http://127.0.0.1:9/pager',
    ticketUrl: process.env.TICKET_WEBHOOK_URL ?? 'http://127.0.0.1:9/ticket',
    heartbeatUrl: process.env.HEARTBEAT_WEBHOOK_URL ?? 'http://127.0.0.1:9/heartbeat',
    prometheusUrl: 'http://127.0.0.1:9090',
  });
  console.log(`rendered ${files.prometheus}, ${files.alertmanager} and ${files.grafanaProvisioning}`);
}

function routes(configFile: string): void {
  const failures: string[] = [];
  const all = alerts();
  for (const rule of all) {
    const severity = rule.labels?.severity ?? '';
    const expected = rule.alert === WATCHDOG_ALERT ? 'heartbeat' : RECEIVER_BY_SEVERITY[severity];
    if (!expected) {
      failures.push(`${rule.alert}: severity ${JSON.stringify(severity)} is neither critical nor warning`);
      continue;
    }
    const labels = Object.entries({ alertname: rule.alert, job: APP_JOB, ...rule.labels }).map(([k, v]) => `${k}=${v}`);
    try {
      execFileSync('amtool', ['config', 'routes', 'test', `--config.file=${configFile}`, `--verify.receivers=${expected}`, ...labels], {
        stdio: 'pipe',
      });
      console.log(`  ${rule.alert} (${severity}) → ${expected}`);
    } catch (err) {
      const out = (err as { stdout?: Buffer }).stdout?.toString().trim() ?? (err as Error).message;
      failures.push(`${rule.alert} (${severity}) should reach ${expected}: ${out}`);
    }
  }
  if (failures.length) {
    console.error(`routes: ${failures.length} of ${all.length} alerts are routed wrongly:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`routes: all ${all.length} alerts reach the receiver of their severity (the Watchdog: heartbeat)`);
}

const [command, arg] = process.argv.slice(2);
if (command === 'render' && arg) render(arg);
else if (command === 'routes' && arg) routes(arg);
else {
  console.error('usage: tsx tools/observability-check.ts render DIR | routes ALERTMANAGER_YML');
  process.exit(2);
}
