/**
 * The monitoring contract: the names and numbers that the app's metrics, the alert rules, the dashboards,
 * the promotion gate, `make local` and the Pulumi program must agree on. Each is defined once: here, or for the
 * metrics the app registers in the app (re-exported by ./metrics.ts). alerts/rules/*.yml are rendered from them
 * (./rules.ts, `make alerts`; the drift check fails while a rendered file is stale), and the dashboards and the
 * gate build their queries from them.
 */
import path from 'node:path';
import { API_PREFIX } from '../../app/src/http/route-table';

export * from './metrics';

/** Prometheus job name of the event service's instances; the rules and dashboards select on it. */
export const APP_JOB = 'event-service';
/** Job label the maintenance job pushes under (kept by honor_labels on the Pushgateway scrape). */
export const MAINTENANCE_JOB = 'event_maintenance';
/** Scrape job names of the monitoring components themselves. */
export const PUSHGATEWAY_JOB = 'pushgateway';
export const ALERTMANAGER_JOB = 'alertmanager';
export const PROMETHEUS_JOB = 'prometheus';
/** Scrape job names of the dependency exporters (prometheus-postgres-exporter, prometheus-redis-exporter). */
export const POSTGRES_EXPORTER_JOB = 'postgres-exporter';
export const REDIS_EXPORTER_JOB = 'redis-exporter';
/** CloudNativePG's instance managers (an in-cluster database's instances): a third-party exporter, see THIRD_PARTY_METRICS. */
export const CNPG_JOB = 'cnpg';
/**
 * The always-firing alert (dead man's switch). Alertmanager routes it to its own `heartbeat` receiver, an
 * external service that raises the alarm when the notifications stop: then the pipeline itself is broken.
 */
export const WATCHDOG_ALERT = 'EventStackWatchdog';
/**
 * Where each alert's runbook entry lives (like the kubernetes-mixin's runbookURLPattern): `%s` is the alert
 * name in lower case, the anchor of its heading in alerts/runbook.md. The rule files get their URLs from it
 * when they are rendered; the promtool tests spell them out, and alerts/test/runbook-urls.test.ts fails while
 * one of theirs is stale (`make runbook-urls` rewrites them).
 */
export const RUNBOOK_URL_PATTERN = 'https://github.com/event-stack/event-stack/blob/main/alerts/runbook.md#%s';
export const runbookUrl = (alert: string, pattern = RUNBOOK_URL_PATTERN) => pattern.replace('%s', alert.toLowerCase());
/** Fixed uid of the provisioned Prometheus datasource: the default of every dashboard's $datasource. */
export const GRAFANA_DATASOURCE_UID = 'prometheus';

/**
 * The API traffic both SLOs are about: the service's routes under /api/v1/. Health checks, /metrics and
 * unmatched paths are not traffic: counting them would dilute the error ratio, and in a cluster, where
 * probes and scrapes never stop, make "no traffic" impossible to see.
 */
export const API_ROUTE_MATCHER = `route=~"${API_PREFIX}/.+"`;

/** Label matchers of the service's own series, and of its API requests (the SLOs' denominator). */
export const appSelector = (...extra: string[]) => [`job="${APP_JOB}"`, ...extra].join(',');
export const apiRequestSelector = (...extra: string[]) => appSelector(API_ROUTE_MATCHER, ...extra);

/** The service level objectives over a 30-day window (Google SRE Workbook, "Alerting on SLOs"). */
export const SLO = {
  /** The SLO window: the error budget is what `1 − objective` allows over these days. */
  windowDays: 30,
  /** 99.9 % of API requests answer without a 5xx (a 503 from backpressure counts as an error). */
  availability: { objective: 0.999 },
  /** 99 % of API requests complete within `thresholdSeconds` (a histogram bucket boundary). */
  latency: { objective: 0.99, thresholdSeconds: 0.5 },
} as const;

/**
 * Multi-window, multi-burn-rate alerting (SRE Workbook; kubernetes-mixin's table): each pair fires when the
 * error budget burns `factor` times faster than the SLO window allows over both its long and its short window
 * (the short one makes the alert stop soon after the errors do). Critical pairs page, warning pairs open a ticket.
 */
export const BURN_WINDOWS = [
  { long: '1h', short: '5m', factor: 14.4, for: '2m', severity: 'critical' },
  { long: '6h', short: '30m', factor: 6, for: '15m', severity: 'critical' },
  { long: '1d', short: '2h', factor: 3, for: '1h', severity: 'warning' },
  { long: '3d', short: '6h', factor: 1, for: '3h', severity: 'warning' },
] as const;
export type BurnWindow = (typeof BURN_WINDOWS)[number];

const ROOT = path.join(__dirname, '..', '..');
export const ALERTS_DIR = path.join(ROOT, 'alerts');
export const RULES_DIR = path.join(ALERTS_DIR, 'rules');
export const ALERTMANAGER_TEMPLATE = path.join(ALERTS_DIR, 'alertmanager.yml');
export const DASHBOARDS_JSON_DIR = path.join(ROOT, 'dashboards', 'json');
