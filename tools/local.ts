/**
 * `make local`: the whole stack on this machine, data under .local/ (kept between runs), fixed
 * ports on 127.0.0.1 (tools/stack/local-stack.ts; override with LOCAL_<NAME>_PORT). Ctrl-C stops everything cleanly.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { runMigrations } from '../app/src/db/migrate';
import { httpOk, portOpen, Running, startAndAwait } from './stack/process';
import { withImageNodeOptions } from './stack/service-runtime';
import { GRAFANA_MISSING_NOTICE, startGrafana, startMonitoringStack } from './stack/monitoring-stack';
import { LOCAL_DIR, localPorts, localPostgres, portVariable, type LocalPorts } from './stack/local-stack';
import { findGrafana, PostgresServer, RedisServer } from './stack/services';

const ROOT = path.join(__dirname, '..');
const LOCAL = LOCAL_DIR;
const PORTS = localPorts();

function step(message: string): void {
  console.log(`local: ${message}`);
}

/** The admin token is generated once and kept, so scripts and curl lines keep working. */
function adminToken(): string {
  const file = path.join(LOCAL, 'admin-token');
  if (!fs.existsSync(file)) fs.writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return fs.readFileSync(file, 'utf8').trim();
}

/**
 * Where Alertmanager delivers locally unless PAGER_WEBHOOK_URL / TICKET_WEBHOOK_URL say otherwise: a
 * webhook receiver that appends every notification to .local/notifications.log and prints one line (except the
 * Watchdog's heartbeats).
 */
async function startAlertSink(port: number): Promise<{ url: string; stop: () => Promise<void> }> {
  const log = path.join(LOCAL, 'notifications.log');
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      fs.appendFileSync(log, `${JSON.stringify({ at: new Date().toISOString(), receiver: req.url, body: safeJson(body) })}\n`);
      const n = safeJson(body) as { status?: string; alerts?: Array<{ labels?: { alertname?: string } }> };
      // The Watchdog's heartbeat arrives every 5 minutes by design: logged, not printed.
      if (req.url !== '/heartbeat')
        step(`alert ${req.url?.slice(1)}: ${n.status ?? '?'} ${(n.alerts ?? []).map((a) => a.labels?.alertname).join(', ')}`);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${port}`, stop: () => new Promise((r) => server.close(() => r())) };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Stops what was started, last first; a second signal while stopping is ignored. */
class Shutdown {
  private readonly stops: Array<() => Promise<void>> = [];
  stopping = false;

  add(stop: () => Promise<void>): void {
    this.stops.push(stop);
  }

  async stopAll(): Promise<void> {
    for (const stop of this.stops.reverse()) await stop().catch((err: Error) => console.error(`local: ${err.message}`));
  }

  onSignal = (): void => {
    if (this.stopping) return;
    this.stopping = true;
    step('stopping…');
    void this.stopAll().then(() => {
      step('stopped');
      process.exit(0);
    });
  };
}

/** The service is built, .local/ exists, and every port the stack will take is free. */
async function checkReady(appMain: string, grafanaWanted: boolean): Promise<void> {
  if (!fs.existsSync(appMain)) throw new Error('app/dist/server.js is missing: run `make build` (make local does)');
  fs.mkdirSync(LOCAL, { recursive: true });
  fs.chmodSync(LOCAL, 0o755); // PostgreSQL runs as the postgres user and must reach its directory
  for (const [name, p] of Object.entries(PORTS) as [keyof LocalPorts, number][]) {
    if (name === 'grafana' && !grafanaWanted) continue;
    if (await portOpen(p)) throw new Error(`port ${p} (${name}) is in use: stop what uses it or set ${portVariable(name)}`);
  }
}

async function startDataStores(shutdown: Shutdown): Promise<{ postgres: PostgresServer; redis: RedisServer }> {
  step(`starting PostgreSQL on 127.0.0.1:${PORTS.postgres} (data in .local/postgres)`);
  const postgres = localPostgres(PORTS);
  await postgres.start();
  shutdown.add(() => postgres.stop());

  step(`starting Redis on 127.0.0.1:${PORTS.redis}`);
  const redis = new RedisServer({ dir: path.join(LOCAL, 'redis'), port: PORTS.redis, persist: true });
  await redis.start();
  shutdown.add(() => redis.stop());

  step('applying migrations');
  await runMigrations(postgres.url, { quiet: true, serviceUrl: postgres.serviceUrl });
  return { postgres, redis };
}

async function startService(appMain: string, postgres: PostgresServer, redis: RedisServer, shutdown: Shutdown): Promise<Running> {
  const env = {
    ...process.env,
    PORT: String(PORTS.app),
    PUSHGATEWAY_URL: `http://127.0.0.1:${PORTS.pushgateway}`,
    HOST: '127.0.0.1',
    // The service's own role (rows only); migrations and `make maintenance` use the owner.
    DATABASE_URL: postgres.serviceUrl,
    REDIS_URL: redis.url,
    ADMIN_TOKEN: adminToken(),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  };
  step(`starting the event service on 127.0.0.1:${PORTS.app} (logs in .local/app.log)`);
  const app = await startAndAwait(
    'event-service',
    process.execPath,
    [appMain],
    path.join(LOCAL, 'app.log'),
    () => httpOk(`http://127.0.0.1:${PORTS.app}/readyz`),
    { env: withImageNodeOptions(env) },
  );
  shutdown.add(() => app.stop(15000));
  return app;
}

/** Prometheus, Pushgateway, Alertmanager (delivering to the local sink unless told otherwise), exporters, Grafana. */
async function startObservability(postgres: PostgresServer, redis: RedisServer, shutdown: Shutdown) {
  const sink = await startAlertSink(PORTS.alertsink);
  shutdown.add(sink.stop);
  step(
    `starting Prometheus (${PORTS.prometheus}), Pushgateway (${PORTS.pushgateway}), Alertmanager (${PORTS.alertmanager}) and the PostgreSQL (${PORTS.postgresExporter}) and Redis (${PORTS.redisExporter}) exporters with alerts/rules`,
  );
  const monitoring = await startMonitoringStack({
    dir: path.join(LOCAL, 'monitoring'),
    ports: PORTS,
    appTargets: [`127.0.0.1:${PORTS.app}`],
    databaseUrl: postgres.url,
    redisUrl: redis.url,
    pagerUrl: process.env.PAGER_WEBHOOK_URL ?? `${sink.url}/pager`,
    ticketUrl: process.env.TICKET_WEBHOOK_URL ?? `${sink.url}/ticket`,
    heartbeatUrl: process.env.HEARTBEAT_WEBHOOK_URL ?? `${sink.url}/heartbeat`,
    scrapeInterval: '5s',
    evaluationInterval: '5s',
    externalLabels: { stage: 'local' },
  });
  shutdown.add(monitoring.stop);
  const grafana = await startGrafana({
    dir: path.join(LOCAL, 'grafana'),
    port: PORTS.grafana,
    provisioningDir: monitoring.files.grafanaProvisioning,
  });
  if (grafana) shutdown.add(() => grafana.stop(10000));
  return { sink, monitoring, grafana };
}

function printSummary(postgres: PostgresServer, redis: RedisServer, o: Awaited<ReturnType<typeof startObservability>>): void {
  const { sink, monitoring, grafana } = o;
  const base = `http://127.0.0.1:${PORTS.app}`;
  console.log(`
The stack is up. Ctrl-C stops it (data stays in .local/).

  event service   ${base}        (/readyz, /metrics, /version, /api/v1/openapi.json)
  PostgreSQL      ${postgres.url} (owner; the service connects as ${postgres.serviceUrl})
  Redis           ${redis.url}
  admin token     .local/admin-token
  Prometheus      ${monitoring.prometheus.url}        (alerts: ${monitoring.prometheus.url}/alerts)
  Pushgateway     ${monitoring.pushgateway.url}
  Alertmanager    ${monitoring.alertmanager.url}
  exporters       ${monitoring.postgresExporter.url}/metrics (PostgreSQL), ${monitoring.redisExporter.url}/metrics (Redis)
  Grafana         ${grafana ? `${grafana.url}        (dashboards in the "Event stack" folder)` : '(not started, see below)'}
  notifications   ${process.env.PAGER_WEBHOOK_URL ? 'PAGER_WEBHOOK_URL / TICKET_WEBHOOK_URL' : `.local/notifications.log (webhook receiver ${sink.url}/pager, /ticket and /heartbeat)`}
  logs            .local/app.log, .local/postgres/postgres.log, .local/redis/redis.log, .local/monitoring/*/*.log

Try:
  curl -s ${base}/readyz
  curl -s -X POST ${base}/api/v1/sensors -H "Authorization: Bearer $(cat .local/admin-token)" \\
       -H 'Content-Type: application/json' -d '{"name":"greenhouse-1"}'
  make maintenance   # run the batch job once: partitions, retention, rollups; pushes to the Pushgateway
`);
  if (!grafana) console.log(`local: ${GRAFANA_MISSING_NOTICE}\n`);
}

async function main(): Promise<void> {
  const appMain = path.join(ROOT, 'app', 'dist', 'server.js');
  await checkReady(appMain, !!findGrafana());
  const shutdown = new Shutdown();
  process.on('SIGINT', shutdown.onSignal);
  process.on('SIGTERM', shutdown.onSignal);
  try {
    const { postgres, redis } = await startDataStores(shutdown);
    const app = await startService(appMain, postgres, redis, shutdown);
    printSummary(postgres, redis, await startObservability(postgres, redis, shutdown));
    app.child.once('exit', (code) => {
      if (shutdown.stopping) return;
      console.error(`local: the event service exited (code ${code}); see .local/app.log`);
      shutdown.onSignal();
    });
  } catch (err) {
    console.error(`local: ${(err as Error).message}`);
    await shutdown.stopAll();
    process.exit(1);
  }
}

void main();
