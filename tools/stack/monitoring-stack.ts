/**
 * Prometheus, Pushgateway, Alertmanager and the PostgreSQL and Redis exporters (and Grafana when installed)
 * started on 127.0.0.1 with the configuration rendered by monitoring/src: `make local` and the end-to-end
 * test run the same files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { httpOk, Running, startAndAwait } from './process';
import { AlertmanagerConfigInput, DASHBOARDS_JSON_DIR, writeMonitoringFiles } from '../../monitoring/src';
import { findGrafana, startAlertmanager, startPostgresExporter, startPrometheus, startPushgateway, startRedisExporter } from './services';

export interface MonitoringStackOptions {
  /** Data and rendered configuration live under this directory. */
  dir: string;
  ports: { prometheus: number; pushgateway: number; alertmanager: number; postgresExporter: number; redisExporter: number };
  /** host:port of each event service instance. */
  appTargets: string[];
  /** The databases the exporters watch (the same the service uses). */
  databaseUrl: string;
  redisUrl: string;
  pagerUrl: string;
  ticketUrl: string;
  heartbeatUrl: string;
  scrapeInterval: string;
  evaluationInterval: string;
  /** Defaults to alerts/rules/*.yml; the end-to-end test passes copies with a shorter `for`. */
  ruleFiles?: string[];
  alertmanagerTiming?: AlertmanagerConfigInput['timing'];
  /**
   * How soon Prometheus sends a firing alert again (default 1m). An alert that fires before Prometheus has
   * found its Alertmanager is dropped until then; the end-to-end test cannot wait a minute.
   */
  alertResendDelay?: string;
  externalLabels?: Record<string, string>;
}

export interface MonitoringStack {
  prometheus: Running & { url: string };
  pushgateway: Running & { url: string };
  alertmanager: Running & { url: string };
  postgresExporter: Running & { url: string };
  redisExporter: Running & { url: string };
  files: ReturnType<typeof writeMonitoringFiles>;
  /** Stops everything it started, in reverse order. */
  stop(): Promise<void>;
}

export async function startMonitoringStack(opts: MonitoringStackOptions): Promise<MonitoringStack> {
  const host = (port: number) => `127.0.0.1:${port}`;
  const files = writeMonitoringFiles(path.join(opts.dir, 'config'), {
    appTargets: opts.appTargets,
    pushgatewayTarget: host(opts.ports.pushgateway),
    alertmanagerTargets: [host(opts.ports.alertmanager)],
    prometheusTarget: host(opts.ports.prometheus),
    postgresExporterTargets: [host(opts.ports.postgresExporter)],
    redisExporterTargets: [host(opts.ports.redisExporter)],
    ruleFiles: opts.ruleFiles,
    scrapeInterval: opts.scrapeInterval,
    evaluationInterval: opts.evaluationInterval,
    externalLabels: opts.externalLabels,
    pagerUrl: opts.pagerUrl,
    ticketUrl: opts.ticketUrl,
    heartbeatUrl: opts.heartbeatUrl,
    prometheusUrl: `http://${host(opts.ports.prometheus)}`,
    alertmanagerTiming: opts.alertmanagerTiming,
  });
  const started: Running[] = [];
  const stop = async () => {
    for (const p of started.reverse()) await p.stop(10000);
  };
  try {
    const sub = (name: string) => fs.mkdirSync(path.join(opts.dir, name), { recursive: true });
    ['alertmanager', 'pushgateway', 'prometheus', 'exporters'].forEach(sub);
    const alertmanager = await startAlertmanager({
      dir: path.join(opts.dir, 'alertmanager'),
      port: opts.ports.alertmanager,
      configFile: files.alertmanager,
    });
    started.push(alertmanager);
    const pushgateway = await startPushgateway({ dir: path.join(opts.dir, 'pushgateway'), port: opts.ports.pushgateway });
    started.push(pushgateway);
    const exporters = path.join(opts.dir, 'exporters');
    const postgresExporter = await startPostgresExporter({
      dir: exporters,
      port: opts.ports.postgresExporter,
      databaseUrl: opts.databaseUrl,
    });
    started.push(postgresExporter);
    const redisExporter = await startRedisExporter({ dir: exporters, port: opts.ports.redisExporter, redisUrl: opts.redisUrl });
    started.push(redisExporter);
    const prometheus = await startPrometheus({
      dir: path.join(opts.dir, 'prometheus'),
      port: opts.ports.prometheus,
      configFile: files.prometheus,
      // Alert links (generatorURL) open this Prometheus, as a cluster's open its --web.external-url.
      extraArgs: [
        `--web.external-url=http://${host(opts.ports.prometheus)}`,
        ...(opts.alertResendDelay ? [`--rules.alert.resend-delay=${opts.alertResendDelay}`] : []),
      ],
    });
    started.push(prometheus);
    return { prometheus, pushgateway, alertmanager, postgresExporter, redisExporter, files, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Where the Grafana binaries keep their static files (homepath), if installed from a package. */
function grafanaHome(): string | undefined {
  return ['/usr/share/grafana'].find((d) => fs.existsSync(path.join(d, 'conf', 'defaults.ini')));
}

/**
 * Grafana with the provisioned datasource and dashboards, anonymous admin access on 127.0.0.1.
 * Returns undefined when no grafana/grafana-server binary is installed (the caller explains).
 */
export async function startGrafana(opts: {
  dir: string;
  port: number;
  provisioningDir: string;
}): Promise<(Running & { url: string }) | undefined> {
  const bin = findGrafana();
  if (!bin) return undefined;
  const home = grafanaHome();
  const url = `http://127.0.0.1:${opts.port}`;
  const args = path.basename(bin) === 'grafana' ? ['server'] : [];
  if (home) args.push(`--homepath=${home}`);
  fs.mkdirSync(path.join(opts.dir, 'data'), { recursive: true });
  const env = {
    ...process.env,
    GF_PATHS_PROVISIONING: opts.provisioningDir,
    GF_PATHS_DATA: path.join(opts.dir, 'data'),
    GF_PATHS_LOGS: opts.dir,
    GF_SERVER_HTTP_ADDR: '127.0.0.1',
    GF_SERVER_HTTP_PORT: String(opts.port),
    GF_AUTH_ANONYMOUS_ENABLED: 'true',
    GF_AUTH_ANONYMOUS_ORG_ROLE: 'Admin',
    GF_ANALYTICS_REPORTING_ENABLED: 'false',
    GF_ANALYTICS_CHECK_FOR_UPDATES: 'false',
    GF_NEWS_NEWS_FEED_ENABLED: 'false',
  };
  const proc = await startAndAwait('grafana', bin, args, path.join(opts.dir, 'grafana.log'), () => httpOk(`${url}/api/health`), {
    env,
    timeoutMs: 60000,
  });
  return Object.assign(proc, { url });
}

/** What to tell the user when Grafana is not installed. */
export const GRAFANA_MISSING_NOTICE = `Grafana is not installed, so it was not started. \`make bootstrap\` installs it from Grafana's
    APT repository when this machine reaches it (and says in one line why not otherwise); or put a grafana /
    grafana-server binary on PATH. The dashboards are plain JSON in ${path.relative(process.cwd(), DASHBOARDS_JSON_DIR) || DASHBOARDS_JSON_DIR}/ (import them into any Grafana,
    with a Prometheus datasource of uid "prometheus").`;
