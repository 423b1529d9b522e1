/**
 * The glue to the observability sources: dashboards/json, alerts/rules, and the renderers of the
 * monitoring contract (monitoring/: the one source of prometheus.yml, alertmanager.yml and Grafana
 * provisioning). Files are read from disk when the program runs, so a stack deploys what the repository holds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CLUSTER_SCRAPE_INTERVAL,
  DASHBOARDS_JSON_DIR,
  RULES_DIR,
  renderAlertmanagerConfig,
  renderGrafanaDashboardProvider,
  renderGrafanaDatasources,
} from '../monitoring/src';
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

export function renderClusterAlertmanagerConfig(receivers: AlertReceivers): string {
  return renderAlertmanagerConfig({ pagerUrl: receivers.pager, ticketUrl: receivers.ticket, heartbeatUrl: receivers.heartbeat });
}

export function renderGrafanaProvisioning(prometheusUrl: string, dashboardsDir: string): { datasources: string; dashboards: string } {
  return {
    datasources: renderGrafanaDatasources({ prometheusUrl, scrapeInterval: CLUSTER_SCRAPE_INTERVAL }),
    dashboards: renderGrafanaDashboardProvider({ dashboardsDir }),
  };
}
