/**
 * The glue to the observability sources: dashboards/json, alerts/rules, the Prometheus and Alertmanager
 * configuration. Files are read from disk when the program runs, so a stack always deploys what the
 * repository holds; nothing here is copied.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';

export const REPO_ROOT = path.resolve(__dirname, '..');
export const DASHBOARDS_DIR = path.join(REPO_ROOT, 'dashboards', 'json');
export const RULES_DIR = path.join(REPO_ROOT, 'alerts', 'rules');

/** Every file of `dir` whose name ends with one of `extensions`, by file name; an absent directory is empty. */
export function readFiles(dir: string, extensions: string[]): Record<string, string> {
  if (!fs.existsSync(dir)) return {};
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .filter((f) => extensions.some((e) => f.endsWith(e)))
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]),
  );
}

export const dashboardFiles = (dir = DASHBOARDS_DIR) => readFiles(dir, ['.json']);
export const ruleFiles = (dir = RULES_DIR) => readFiles(dir, ['.yml', '.yaml']);

export interface ScrapeTargets {
  /** DNS name resolving to every app pod (a headless Service): one target per instance. */
  appPodsDns: string;
  appPort: number;
  pushgateway: string;
  alertmanager: string;
  rulesDir: string;
}

/** prometheus.yml for the cluster. */
export function renderPrometheusConfig(t: ScrapeTargets): string {
  return stringify({
    global: { scrape_interval: '15s', evaluation_interval: '15s' },
    rule_files: [`${t.rulesDir}/*.yml`, `${t.rulesDir}/*.yaml`],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [t.alertmanager] }] }] },
    scrape_configs: [
      { job_name: 'event-service', dns_sd_configs: [{ names: [t.appPodsDns], type: 'A', port: t.appPort }] },
      { job_name: 'pushgateway', honor_labels: true, static_configs: [{ targets: [t.pushgateway] }] },
      { job_name: 'prometheus', static_configs: [{ targets: ['localhost:9090'] }] },
      { job_name: 'alertmanager', static_configs: [{ targets: [t.alertmanager] }] },
    ],
  });
}

/** alertmanager.yml: every receiver posts to the webhook URL configured for it (a stack secret). */
export function renderAlertmanagerConfig(receivers: Record<string, string>): string {
  const names = Object.keys(receivers).sort();
  for (const [name, url] of Object.entries(receivers))
    if (!/^https?:\/\//.test(url)) throw new Error(`event-stack:alertReceivers.${name}: must be an http(s) URL`);
  const byName = (n: string) => (names.includes(n) ? n : names[0]);
  return stringify({
    route: {
      receiver: byName('ticket') ?? 'null',
      group_by: ['alertname', 'severity'],
      routes: [{ matchers: ['severity="critical"'], receiver: byName('page') ?? 'null' }],
    },
    receivers: names.length ? names.map((n) => ({ name: n, webhook_configs: [{ url: receivers[n] }] })) : [{ name: 'null' }],
  });
}

/** Grafana provisioning: the Prometheus datasource and the file provider of the dashboards. */
export function renderGrafanaProvisioning(prometheusUrl: string, dashboardsPath: string): { datasources: string; dashboards: string } {
  return {
    datasources: stringify({
      apiVersion: 1,
      datasources: [{ name: 'Prometheus', uid: 'prometheus', type: 'prometheus', access: 'proxy', url: prometheusUrl, isDefault: true }],
    }),
    dashboards: stringify({
      apiVersion: 1,
      providers: [{ name: 'event-stack', type: 'file', disableDeletion: true, allowUiUpdates: false, options: { path: dashboardsPath } }],
    }),
  };
}
