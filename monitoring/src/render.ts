/**
 * The renderers of the monitoring configuration: the Prometheus configuration, the Alertmanager
 * configuration (rendered from alerts/alertmanager.yml) and Grafana's provisioning files. Pure
 * functions from addresses to YAML text, used unchanged by `make local`, the tests and the Pulumi
 * program; only the addresses (and receiver URLs, which are secrets) differ between them.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import {
  ALERTMANAGER_JOB,
  ALERTMANAGER_TEMPLATE,
  APP_JOB,
  DASHBOARDS_JSON_DIR,
  GRAFANA_DATASOURCE_UID,
  CNPG_JOB,
  POSTGRES_EXPORTER_JOB,
  PROMETHEUS_JOB,
  PUSHGATEWAY_JOB,
  REDIS_EXPORTER_JOB,
  RULES_DIR,
} from './contract';
import { CLUSTER_METRICS, KUBE_STATE_METRICS_JOB, KUBELET_JOB } from './kubernetes-rules';

/** Absolute paths of the Prometheus rule files (alerts/rules/*.yml), sorted. */
export function ruleFilePaths(dir = RULES_DIR): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => path.join(dir, f));
}

export interface PrometheusConfigInput {
  /** host:port of every event service instance. */
  appTargets: string[];
  /** host:port of the Pushgateway (scraped with honor_labels so pushed job labels survive). */
  pushgatewayTarget: string;
  /** host:port of each Alertmanager; Prometheus sends alerts to them and scrapes them. */
  alertmanagerTargets: string[];
  /** host:port under which Prometheus scrapes itself (rule evaluation and notification metrics). */
  prometheusTarget: string;
  /** host:port of prometheus-postgres-exporter and prometheus-redis-exporter, when they run. */
  postgresExporterTargets?: string[];
  redisExporterTargets?: string[];
  /** Rule files as Prometheus sees them (absolute paths, or relative to the config file). */
  ruleFiles: string[];
  /** e.g. '15s' in production, '1s' in the end-to-end test. */
  scrapeInterval: string;
  evaluationInterval: string;
  /** Defaults to the scrape interval capped at 10s (Prometheus requires timeout ≤ interval). */
  scrapeTimeout?: string;
  /** Labels added to every series and alert leaving this Prometheus, e.g. { stage: 'prod' }. */
  externalLabels?: Record<string, string>;
  /** Further scrape jobs (the cluster's: kube-state-metrics and the kubelets). */
  extraScrapeConfigs?: Array<Record<string, unknown>>;
}

const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;

function durationMs(d: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
  let total = 0;
  for (const [, n, unit] of d.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) total += Number(n) * (units[unit!] ?? 0);
  return total;
}

function requireDuration(name: string, value: string): string {
  if (!DURATION.test(value)) throw new Error(`${name} must be a Prometheus duration such as 15s or 1m, got ${JSON.stringify(value)}`);
  return value;
}

function requireTargets(name: string, targets: string[], min = 1): string[] {
  if (targets.length < min) throw new Error(`${name} needs at least ${min} host:port target`);
  for (const t of targets) if (!/^[^\s/:]+:\d{1,5}$/.test(t)) throw new Error(`${name}: ${JSON.stringify(t)} is not host:port`);
  return targets;
}

/** A static scrape job, or none when the exporter does not run. */
function exporterJob(jobName: string, targets: string[] | undefined) {
  return targets?.length ? [{ job_name: jobName, static_configs: [{ targets: requireTargets(jobName, targets) }] }] : [];
}

/**
 * prometheus.yml text: scrape the app, the Pushgateway (honor_labels), Alertmanager, Prometheus itself and the
 * exporters; load the rule files. `appDiscovery` (the cluster's) replaces the app's static targets with service
 * discovery and relabelling.
 */
export function renderPrometheusConfig(input: PrometheusConfigInput, appDiscovery?: Record<string, unknown>): string {
  const scrapeInterval = requireDuration('scrapeInterval', input.scrapeInterval);
  const evaluationInterval = requireDuration('evaluationInterval', input.evaluationInterval);
  const scrapeTimeout = requireDuration(
    'scrapeTimeout',
    input.scrapeTimeout ?? (durationMs(scrapeInterval) > 10_000 ? '10s' : scrapeInterval),
  );
  if (durationMs(scrapeTimeout) > durationMs(scrapeInterval)) throw new Error('scrapeTimeout must not exceed scrapeInterval');
  if (input.ruleFiles.length === 0) throw new Error('ruleFiles is empty: Prometheus would evaluate no alerts');
  const config = {
    global: {
      scrape_interval: scrapeInterval,
      scrape_timeout: scrapeTimeout,
      evaluation_interval: evaluationInterval,
      ...(input.externalLabels && Object.keys(input.externalLabels).length ? { external_labels: input.externalLabels } : {}),
    },
    rule_files: input.ruleFiles,
    alerting: {
      alertmanagers: [{ static_configs: [{ targets: requireTargets('alertmanagerTargets', input.alertmanagerTargets) }] }],
    },
    scrape_configs: [
      {
        job_name: APP_JOB,
        metrics_path: '/metrics',
        ...(appDiscovery ?? { static_configs: [{ targets: requireTargets('appTargets', input.appTargets) }] }),
      },
      {
        job_name: PUSHGATEWAY_JOB,
        honor_labels: true,
        static_configs: [{ targets: requireTargets('pushgatewayTarget', [input.pushgatewayTarget]) }],
      },
      { job_name: ALERTMANAGER_JOB, static_configs: [{ targets: input.alertmanagerTargets }] },
      { job_name: PROMETHEUS_JOB, static_configs: [{ targets: requireTargets('prometheusTarget', [input.prometheusTarget]) }] },
      ...exporterJob(POSTGRES_EXPORTER_JOB, input.postgresExporterTargets),
      ...exporterJob(REDIS_EXPORTER_JOB, input.redisExporterTargets),
      ...(input.extraScrapeConfigs ?? []),
    ],
  };
  return `# Rendered by monitoring/src/render.ts (renderPrometheusConfig); do not edit.\n${YAML.stringify(config, { aliasDuplicateObjects: false })}`;
}

/** Scrape and rule evaluation interval in a cluster. */
export const CLUSTER_SCRAPE_INTERVAL = '15s';

export interface ClusterScrapeTargets {
  /**
   * The app's pods: their namespace, the labels that select them, and the name of the container port that
   * serves /metrics. Prometheus lists them through the Kubernetes API (its service account needs list/watch
   * on pods in that namespace).
   */
  appPods: { namespace: string; labels: Record<string, string>; portName: string };
  pushgateway: string;
  /** host:port of every Alertmanager replica: alerts go to each (a load-balanced Service would split them). */
  alertmanagers: string[];
  /** host:port Prometheus scrapes itself under (its own pod). */
  prometheus: string;
  /** host:port of the PostgreSQL and Redis exporters' Services. */
  postgresExporter: string;
  redisExporter: string;
  /** host:port of the stack's kube-state-metrics; the kubelets are found through the API (node role). */
  kubeStateMetrics: string;
  rulesDir: string;
  stage: string;
  /**
   * CloudNativePG's instance pods (an in-cluster database): their namespace, the labels that select them and the
   * name of the instance manager's metrics port (replication, WAL archiving, backups: job CNPG_JOB).
   */
  cnpgPods?: { namespace: string; labels: Record<string, string>; portName: string };
}

/** Where Kubernetes mounts a pod's service account token and the cluster's CA. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The cluster's signals about the stack's namespace: kube-state-metrics (which watches only that namespace), and
 * each node's kubelet on its own port (10250, HTTPS, the service account's token; kubelets serve self-signed
 * certificates, hence no verification). Only the metrics the rules and dashboards read (CLUSTER_METRICS), and
 * only series of the stack's namespace, are kept: a node's cAdvisor exports every container of every tenant.
 * Direct rather than through the API server's node proxy: that needs `nodes/proxy`, which also reaches the
 * kubelet's exec and log endpoints; `nodes/metrics` reads metrics only.
 */
export function clusterSignalScrapeConfigs(namespace: string, kubeStateMetrics: string): Array<Record<string, unknown>> {
  const keep = (label: string, values: string[]) => ({ source_labels: [label], regex: values.map(escapeRegex).join('|'), action: 'keep' });
  const kubeletMetrics = Object.keys(CLUSTER_METRICS[KUBELET_JOB]);
  const kubelet = (jobName: string, metricsPath: string, metrics: string[]) => ({
    job_name: jobName,
    scheme: 'https',
    metrics_path: metricsPath,
    authorization: { credentials_file: `${SERVICE_ACCOUNT_DIR}/token` },
    tls_config: { ca_file: `${SERVICE_ACCOUNT_DIR}/ca.crt`, insecure_skip_verify: true },
    kubernetes_sd_configs: [{ role: 'node' }],
    relabel_configs: [
      { source_labels: ['__meta_kubernetes_node_name'], target_label: 'instance' },
      // Both endpoints are the job the rules read, as in kube-prometheus-stack (metrics_path tells them apart).
      { target_label: 'job', replacement: KUBELET_JOB },
      { target_label: 'metrics_path', replacement: metricsPath },
    ],
    metric_relabel_configs: [keep('__name__', metrics), keep('namespace', [namespace])],
  });
  return [
    {
      job_name: KUBE_STATE_METRICS_JOB,
      static_configs: [{ targets: requireTargets('kubeStateMetrics', [kubeStateMetrics]) }],
      metric_relabel_configs: [keep('namespace', [namespace])],
    },
    kubelet(
      KUBELET_JOB,
      '/metrics',
      kubeletMetrics.filter((m) => m.startsWith('kubelet_')),
    ),
    kubelet(
      `${KUBELET_JOB}-cadvisor`,
      '/metrics/cadvisor',
      kubeletMetrics.filter((m) => !m.startsWith('kubelet_')),
    ),
  ];
}

/**
 * prometheus.yml for the cluster. The app runs as several pods behind one name, so its static target becomes
 * Kubernetes pod discovery: every pod is a target whether or not it is Ready (DNS of a Service lists only Ready
 * pods, so a pod failing /readyz or crash-looping would vanish instead of showing up == 0), on the metrics port
 * only, named by its pod (instance stays stable across restarts and reads well in legends). Finished pods
 * (Succeeded/Failed, e.g. evicted) are dropped: they serve nothing.
 */
export function renderClusterPrometheusConfig(t: ClusterScrapeTargets): string {
  const selector = Object.entries(t.appPods.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  if (!selector) throw new Error('appPods.labels is empty: discovery would scrape every pod of the namespace');
  const text = renderPrometheusConfig(
    {
      appTargets: [],
      pushgatewayTarget: t.pushgateway,
      alertmanagerTargets: t.alertmanagers,
      prometheusTarget: t.prometheus,
      postgresExporterTargets: [t.postgresExporter],
      redisExporterTargets: [t.redisExporter],
      ruleFiles: [`${t.rulesDir}/*.yml`, `${t.rulesDir}/*.yaml`],
      scrapeInterval: CLUSTER_SCRAPE_INTERVAL,
      evaluationInterval: CLUSTER_SCRAPE_INTERVAL,
      externalLabels: { stage: t.stage },
      extraScrapeConfigs: clusterSignalScrapeConfigs(t.appPods.namespace, t.kubeStateMetrics),
    },
    {
      kubernetes_sd_configs: [{ role: 'pod', namespaces: { names: [t.appPods.namespace] }, selectors: [{ role: 'pod', label: selector }] }],
      relabel_configs: [
        { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: escapeRegex(t.appPods.portName), action: 'keep' },
        { source_labels: ['__meta_kubernetes_pod_phase'], regex: 'Succeeded|Failed', action: 'drop' },
        { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'instance' },
      ],
    },
  );
  if (!t.cnpgPods) return text;
  const config = YAML.parse(text) as { scrape_configs: unknown[] };
  const cnpg = t.cnpgPods;
  config.scrape_configs.push({
    job_name: CNPG_JOB,
    kubernetes_sd_configs: [
      {
        role: 'pod',
        namespaces: { names: [cnpg.namespace] },
        selectors: [
          {
            role: 'pod',
            label: Object.entries(cnpg.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(','),
          },
        ],
      },
    ],
    relabel_configs: [
      { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: escapeRegex(cnpg.portName), action: 'keep' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'instance' },
      // The rules and panels group by the cluster and pod, as CloudNativePG's own dashboards do.
      { source_labels: ['__meta_kubernetes_pod_label_cnpg_io_cluster'], target_label: 'cluster' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
    ],
  });
  return `# Rendered by monitoring/src/render.ts (renderPrometheusConfig); do not edit.\n${YAML.stringify(config, { aliasDuplicateObjects: false })}`;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface AlertmanagerConfigInput {
  /** Webhook of the pager receiver (critical alerts). A secret: comes from configuration, never from the repo. */
  pagerUrl: string;
  /** Webhook of the ticket receiver (warning alerts). */
  ticketUrl: string;
  /** Webhook of the external dead man's switch that receives the always-firing Watchdog every 5 minutes. */
  heartbeatUrl: string;
  /** The template text; defaults to alerts/alertmanager.yml. */
  template?: string;
  /** Notification timing of the root route; the end-to-end test shortens it, production keeps the file's. */
  timing?: { groupWait?: string; groupInterval?: string; repeatInterval?: string };
}

function requireHttpUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name} must be an http(s) URL, got an unparsable value`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} must be an http(s) URL`);
  return value;
}

/** Fills ${NAME} placeholders; throws when one is unknown or a value is missing (never renders a half config). */
export function fillPlaceholders(template: string, values: Record<string, string>): string {
  return template.replace(/\$\{([A-Z0-9_]+)\}/g, (_m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for the placeholder \${${name}}`);
    return JSON.stringify(v); // a JSON string is a valid YAML scalar, whatever the URL contains
  });
}

/** alertmanager.yml text: alerts/alertmanager.yml with the receiver URLs (and optionally test timings) filled in. */
export function renderAlertmanagerConfig(input: AlertmanagerConfigInput): string {
  const template = input.template ?? fs.readFileSync(ALERTMANAGER_TEMPLATE, 'utf8');
  const text = fillPlaceholders(template, {
    PAGER_WEBHOOK_URL: requireHttpUrl('pagerUrl', input.pagerUrl),
    TICKET_WEBHOOK_URL: requireHttpUrl('ticketUrl', input.ticketUrl),
    HEARTBEAT_WEBHOOK_URL: requireHttpUrl('heartbeatUrl', input.heartbeatUrl),
  });
  if (!input.timing) return text;
  const doc = YAML.parseDocument(text);
  const { groupWait, groupInterval, repeatInterval } = input.timing;
  if (groupWait) doc.setIn(['route', 'group_wait'], requireDuration('groupWait', groupWait));
  if (groupInterval) doc.setIn(['route', 'group_interval'], requireDuration('groupInterval', groupInterval));
  if (repeatInterval) doc.setIn(['route', 'repeat_interval'], requireDuration('repeatInterval', repeatInterval));
  return doc.toString();
}

interface RuleGroups {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string; for?: string }> }>;
}

/**
 * A copy of a rule file with the `for` of the named alerts replaced, for tests that cannot wait minutes.
 * The rule files stay the one source: everything else (expressions, labels, annotations) is unchanged.
 * Throws when a named alert is not in the file, so a renamed alert cannot silently escape the override.
 */
export function overrideAlertFor(ruleFileText: string, overrides: Record<string, string>): string {
  const doc = YAML.parseDocument(ruleFileText);
  const found = new Set<string>();
  const groups = (doc.toJS() as RuleGroups).groups;
  groups.forEach((g, gi) =>
    g.rules.forEach((r, ri) => {
      if (r.alert && overrides[r.alert] !== undefined) {
        doc.setIn(['groups', gi, 'rules', ri, 'for'], requireDuration(`for of ${r.alert}`, overrides[r.alert]!));
        found.add(r.alert);
      }
    }),
  );
  const missing = Object.keys(overrides).filter((a) => !found.has(a));
  if (missing.length) throw new Error(`no alert named ${missing.join(', ')} in the rule file`);
  return doc.toString();
}

/**
 * Grafana datasource provisioning (provisioning/datasources/*.yaml): Prometheus with a fixed uid. Its
 * scrape interval tells Grafana how small $__rate_interval may get (4 × scrape interval at least).
 */
export function renderGrafanaDatasources(input: { prometheusUrl: string; scrapeInterval?: string }): string {
  const config = {
    apiVersion: 1,
    datasources: [
      {
        name: 'Prometheus',
        uid: GRAFANA_DATASOURCE_UID,
        type: 'prometheus',
        access: 'proxy',
        url: requireHttpUrl('prometheusUrl', input.prometheusUrl),
        isDefault: true,
        editable: false,
        jsonData: { httpMethod: 'POST', timeInterval: requireDuration('scrapeInterval', input.scrapeInterval ?? '15s') },
      },
    ],
  };
  return `# Rendered by monitoring/src/render.ts (renderGrafanaDatasources); do not edit.\n${YAML.stringify(config, { aliasDuplicateObjects: false })}`;
}

/** Grafana dashboard provider provisioning (provisioning/dashboards/*.yaml): load every JSON file in a directory. */
export function renderGrafanaDashboardProvider(input: { dashboardsDir: string }): string {
  const config = {
    apiVersion: 1,
    providers: [
      {
        name: 'event-stack',
        folder: 'Event stack',
        type: 'file',
        disableDeletion: true,
        allowUiUpdates: false,
        updateIntervalSeconds: 30,
        options: { path: input.dashboardsDir, foldersFromFilesStructure: false },
      },
    ],
  };
  return `# Rendered by monitoring/src/render.ts (renderGrafanaDashboardProvider); do not edit.\n${YAML.stringify(config, { aliasDuplicateObjects: false })}`;
}

export interface MonitoringFilesInput extends Omit<PrometheusConfigInput, 'ruleFiles'> {
  pagerUrl: string;
  ticketUrl: string;
  heartbeatUrl: string;
  prometheusUrl: string;
  ruleFiles?: string[];
  dashboardsDir?: string;
  alertmanagerTiming?: AlertmanagerConfigInput['timing'];
}

/**
 * Writes prometheus.yml, alertmanager.yml and grafana/provisioning/{datasources,dashboards}/event-stack.yaml
 * under `dir` (the only function here that touches the disk; `make local`, the tests and the checks use it).
 */
export function writeMonitoringFiles(dir: string, input: MonitoringFilesInput) {
  const files = {
    prometheus: path.join(dir, 'prometheus.yml'),
    alertmanager: path.join(dir, 'alertmanager.yml'),
    grafanaProvisioning: path.join(dir, 'grafana', 'provisioning'),
  };
  fs.mkdirSync(path.join(files.grafanaProvisioning, 'datasources'), { recursive: true });
  fs.mkdirSync(path.join(files.grafanaProvisioning, 'dashboards'), { recursive: true });
  fs.writeFileSync(files.prometheus, renderPrometheusConfig({ ...input, ruleFiles: input.ruleFiles ?? ruleFilePaths() }));
  fs.writeFileSync(
    files.alertmanager,
    renderAlertmanagerConfig({
      pagerUrl: input.pagerUrl,
      ticketUrl: input.ticketUrl,
      heartbeatUrl: input.heartbeatUrl,
      timing: input.alertmanagerTiming,
    }),
    { mode: 0o600 },
  );
  fs.writeFileSync(path.join(files.grafanaProvisioning, 'datasources', 'event-stack.yaml'), renderGrafanaDatasources(input));
  fs.writeFileSync(
    path.join(files.grafanaProvisioning, 'dashboards', 'event-stack.yaml'),
    renderGrafanaDashboardProvider({ dashboardsDir: input.dashboardsDir ?? DASHBOARDS_JSON_DIR }),
  );
  return files;
}
