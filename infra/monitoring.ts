/**
 * The glue to the observability sources: dashboards/json, alerts/rules, and the render functions of
 * tools/stack/monitoring.ts (the one source of prometheus.yml, alertmanager.yml and Grafana provisioning).
 * Files are read from disk when the program runs, so a stack deploys what the repository holds.
 * The cluster differs from `make local` only in addresses: the app pods are found by DNS.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import {
  APP_JOB,
  DASHBOARDS_JSON_DIR,
  RULES_DIR,
  renderAlertmanagerConfig,
  renderGrafanaDashboardProvider,
  renderGrafanaDatasources,
  renderPrometheusConfig,
} from '../tools/stack/monitoring';
import type { AlertReceivers } from './config';

export const REPO_ROOT = path.resolve(__dirname, '..');

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

export const dashboardFiles = (dir = DASHBOARDS_JSON_DIR) => readFiles(dir, ['.json']);
export const ruleFiles = (dir = RULES_DIR) => readFiles(dir, ['.yml', '.yaml']);

const SCRAPE_INTERVAL = '15s';

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
      scrapeInterval: SCRAPE_INTERVAL,
      evaluationInterval: SCRAPE_INTERVAL,
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
  return {
    datasources: renderGrafanaDatasources({ prometheusUrl, scrapeInterval: SCRAPE_INTERVAL }),
    dashboards: renderGrafanaDashboardProvider({ dashboardsDir }),
  };
}
