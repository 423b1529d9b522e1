/**
 * The glue to the observability sources: dashboards/json, alerts/rules, and the render functions of
 * tools/stack/monitoring.ts (the one source of prometheus.yml, alertmanager.yml and Grafana provisioning).
 * Files are read from disk when the program runs, so a stack deploys what the repository holds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import type { AlertReceivers } from './config';

export const REPO_ROOT = path.resolve(__dirname, '..');
export const DASHBOARDS_DIR = path.join(REPO_ROOT, 'dashboards', 'json');
export const RULES_DIR = path.join(REPO_ROOT, 'alerts', 'rules');
export const APP_JOB = 'event-service';

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

export interface ClusterScrapeTargets {
  /** DNS name of a headless Service resolving to every app pod, and the app's port. */
  appPods: { dns: string; port: number };
  pushgateway: string;
  alertmanager: string;
  rulesDir: string;
  stage: string;
}

/**
 * prometheus.yml for the cluster. The app runs as several pods behind one name, so its static
 * target becomes DNS service discovery on the headless Service: one target per instance.
 */
export function renderClusterPrometheusConfig(t: ClusterScrapeTargets): string {
  const rendered = parse(
    renderPrometheusConfig({
      appTargets: [`${t.appPods.dns}:${t.appPods.port}`],
      pushgatewayTarget: t.pushgateway,
      alertmanagerTargets: [t.alertmanager],
      ruleFiles: [`${t.rulesDir}/*.yml`, `${t.rulesDir}/*.yaml`],
      scrapeInterval: '15s',
      evaluationInterval: '15s',
      externalLabels: { stage: t.stage },
    }),
  ) as { scrape_configs: Record<string, unknown>[] };
  const app = rendered.scrape_configs.find((j) => j.job_name === APP_JOB);
  if (!app) throw new Error(`the rendered Prometheus configuration has no job ${APP_JOB}`);
  delete app.static_configs;
  app.dns_sd_configs = [{ names: [t.appPods.dns], type: 'A', port: t.appPods.port }];
  return stringify(rendered, { aliasDuplicateObjects: false });
}

export function renderClusterAlertmanagerConfig(receivers: AlertReceivers): string {
  return renderAlertmanagerConfig({ pagerUrl: receivers.pager, ticketUrl: receivers.ticket });
}

export function renderGrafanaProvisioning(prometheusUrl: string, dashboardsDir: string): { datasources: string; dashboards: string } {
  return { datasources: renderGrafanaDatasources({ prometheusUrl }), dashboards: renderGrafanaDashboardProvider({ dashboardsDir }) };
}

// Stand-ins with the signatures of tools/stack/monitoring.ts until it lands on main (branch obs).
interface PrometheusConfigInput {
  appTargets: string[];
  pushgatewayTarget: string;
  alertmanagerTargets: string[];
  ruleFiles: string[];
  scrapeInterval: string;
  evaluationInterval: string;
  externalLabels?: Record<string, string>;
}
function renderPrometheusConfig(i: PrometheusConfigInput): string {
  return stringify({
    global: { scrape_interval: i.scrapeInterval, evaluation_interval: i.evaluationInterval, external_labels: i.externalLabels },
    rule_files: i.ruleFiles,
    alerting: { alertmanagers: [{ static_configs: [{ targets: i.alertmanagerTargets }] }] },
    scrape_configs: [
      { job_name: APP_JOB, static_configs: [{ targets: i.appTargets }] },
      { job_name: 'pushgateway', honor_labels: true, static_configs: [{ targets: [i.pushgatewayTarget] }] },
      { job_name: 'alertmanager', static_configs: [{ targets: i.alertmanagerTargets }] },
    ],
  });
}
function renderAlertmanagerConfig(i: { pagerUrl: string; ticketUrl: string }): string {
  for (const [name, url] of Object.entries(i)) if (!/^https?:\/\//.test(url)) throw new Error(`${name} must be an http(s) URL`);
  return stringify({
    route: { receiver: 'ticket', routes: [{ matchers: ['severity="critical"'], receiver: 'pager' }] },
    receivers: [
      { name: 'pager', webhook_configs: [{ url: i.pagerUrl }] },
      { name: 'ticket', webhook_configs: [{ url: i.ticketUrl }] },
    ],
  });
}
function renderGrafanaDatasources(i: { prometheusUrl: string }): string {
  return stringify({
    apiVersion: 1,
    datasources: [{ name: 'Prometheus', uid: 'prometheus', type: 'prometheus', access: 'proxy', url: i.prometheusUrl, isDefault: true }],
  });
}
function renderGrafanaDashboardProvider(i: { dashboardsDir: string }): string {
  return stringify({
    apiVersion: 1,
    providers: [{ name: 'event-stack', type: 'file', disableDeletion: true, options: { path: i.dashboardsDir } }],
  });
}
