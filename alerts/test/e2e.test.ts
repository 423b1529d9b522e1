/**
 * End to end, on real programs on 127.0.0.1: the service (in-process, its own PostgreSQL), Prometheus,
 * Pushgateway, Alertmanager and the PostgreSQL and Redis exporters with the rendered configuration and 1 s
 * intervals. After real traffic
 * and a real maintenance run, every dashboard panel query and every rule expression is evaluated by
 * Prometheus, and every metric a rule, a panel or the promotion gate reads must be exported by a target of its
 * job (every target is scraped and compared); the Watchdog must reach the heartbeat webhook; then PostgreSQL is
 * stopped and the page must reach the pager webhook (both receivers run by this test).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { runMigrations } from '../../app/src/db/migrate';
import { main as runMaintenanceJob } from '../../app/src/jobs/maintenance';
import { ADMIN_TOKEN, bearer, createSensor, getJson, postEvents, startTestService, TestService } from '../../app/test/helpers';
import { allDashboards } from '../../dashboards/src/index';
import { MonitoringStack, startMonitoringStack } from '../../tools/stack/monitoring-stack';
import {
  APP_JOB,
  CLUSTER_JOBS,
  CNPG_JOB,
  CNPG_METRICS,
  MAINTENANCE_JOB,
  MAINTENANCE_METRICS,
  overrideAlertFor,
  PUSHGATEWAY_JOB,
  ruleFilePaths,
  SERVICE_METRICS,
  WATCHDOG_ALERT,
} from '../../monitoring/src';
import { metricReferences } from '../../monitoring/src/promql-names';
import { versionQueries } from '../../tools/promote/queries';
import { canaryAnalysisMetrics, canaryThresholds } from '../../infra/components/canary';
import { DEFAULT_PROMOTION } from '../../infra/stack-schema';
import { freePort, sleep, waitFor } from '../../tools/stack/process';
import { PostgresServer } from '../../tools/stack/services';

/** The page this test provokes, with its `for` shortened through configuration (the rule files are untouched). */
const OUTAGE_ALERT = 'EventServicePostgresUnreachable';
const SCRAPE_SECONDS = 1;

/**
 * Panel queries allowed to return no data here, each with its reason. Empty today: the traffic below
 * produces every series the dashboards read (errors and rejections included).
 */
const NO_DATA_EXPECTED: Record<string, string> = {};

interface Notification {
  receiver: string;
  status: string;
  alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string>; generatorURL?: string }>;
}

let dir: string;
let postgres: PostgresServer;
let svc: TestService;
let monitoring: MonitoringStack;
let webhook: http.Server;
const notifications: Array<Notification & { path: string }> = [];
let trafficStart = 0;

async function startWebhook(): Promise<string> {
  webhook = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      notifications.push({ path: req.url ?? '', ...(JSON.parse(Buffer.concat(chunks).toString()) as Notification) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(webhook.address() as AddressInfo).port}`;
}

/** Copies of alerts/rules/*.yml, unchanged except the outage alert's `for`. */
function testRuleFiles(): string[] {
  const out = path.join(dir, 'rules');
  fs.mkdirSync(out, { recursive: true });
  return ruleFilePaths().map((file) => {
    let text = fs.readFileSync(file, 'utf8');
    if (text.includes(`alert: ${OUTAGE_ALERT}`)) text = overrideAlertFor(text, { [OUTAGE_ALERT]: '1s' });
    const copy = path.join(out, path.basename(file));
    fs.writeFileSync(copy, text);
    return copy;
  });
}

interface PromResult {
  status: string;
  error?: string;
  data?: {
    resultType: string;
    result: Array<{ metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }>;
  };
}

async function prom(endpoint: 'query' | 'query_range', params: Record<string, string>): Promise<PromResult> {
  const res = await fetch(`${monitoring.prometheus.url}/api/v1/${endpoint}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
    signal: AbortSignal.timeout(10000),
  });
  return (await res.json()) as PromResult;
}

async function instantHasData(expr: string): Promise<boolean> {
  const r = await prom('query', { query: expr });
  return r.status === 'success' && (r.data?.result.length ?? 0) > 0;
}

/** Where each template variable of a dashboard points here: every instance, database and namespace. */
const VARIABLE_VALUES: Record<string, string> = { instance: '.*', datname: '.*', namespace: '.*' };

/**
 * kube-state-metrics, the kubelet and cAdvisor (CLUSTER_JOBS) cannot run here: their metrics are third-party
 * names proven on series of their exact shape in dashboards/test/kubernetes-panels.test.ts, not scraped here.
 */
const readsOnlyTheCluster = (expr: string) => metricReferences(expr).every((ref) => CLUSTER_JOBS.includes(ref.job ?? ''));

/**
 * Grafana's macros and the dashboard's own template variables, as Grafana would fill them for this time range.
 * A variable the dashboard does not define stays unresolved and fails the panel, as it would in Grafana.
 */
function substitute(expr: string, variables: string[], rangeSeconds: number, stepSeconds: number): string {
  const rateInterval = Math.max(stepSeconds + SCRAPE_SECONDS, 4 * SCRAPE_SECONDS);
  let out = expr
    .replace(/\$__rate_interval\b/g, `${rateInterval}s`)
    .replace(/\$__interval_ms\b/g, String(stepSeconds * 1000))
    .replace(/\$__interval\b/g, `${stepSeconds}s`)
    .replace(/\$__range_s\b/g, String(rangeSeconds))
    .replace(/\$__range\b/g, `${rangeSeconds}s`);
  for (const name of variables) {
    const value = VARIABLE_VALUES[name];
    if (value === undefined) throw new Error(`the test has no value for the dashboard variable $${name}`);
    out = out.replace(new RegExp(`\\$\\{${name}\\}|\\$${name}\\b`, 'g'), value);
  }
  const left = out.match(/\$\{?\w+\}?/);
  if (left) throw new Error(`${left[0]} is not a variable of this dashboard`);
  return out;
}

/** Series Prometheus itself adds for every target it scrapes, whatever the job. */
const SCRAPE_SERIES = [
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
  'scrape_series_added',
];

/**
 * The metric names each job exports now, read from every active target's own /metrics (not from Prometheus's
 * storage, which keeps series of a renamed metric until they go stale). A declared family counts even before
 * its first sample (prom-client lists a labelled counter it has not incremented yet). The Pushgateway is
 * scraped with honor_labels: each pushed series belongs to the job it was pushed under.
 */
async function exportedByJob(): Promise<Map<string, Set<string>>> {
  const res = await fetch(`${monitoring.prometheus.url}/api/v1/targets?state=active`);
  const targets = ((await res.json()) as { data: { activeTargets: Array<{ scrapeUrl: string; labels: Record<string, string> }> } }).data
    .activeTargets;
  const exported = new Map<string, Set<string>>();
  const add = (job: string, ...names: string[]) => {
    const set = exported.get(job) ?? new Set<string>();
    names.forEach((n) => set.add(n));
    exported.set(job, set);
  };
  for (const t of targets) {
    const job = t.labels.job!;
    const honorJob = job === PUSHGATEWAY_JOB;
    add(job, ...SCRAPE_SERIES);
    const text = await (await fetch(t.scrapeUrl, { signal: AbortSignal.timeout(10000) })).text();
    for (const line of text.split('\n')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type && !honorJob) {
        const [, name, kind] = type as unknown as [string, string, string];
        add(
          job,
          name,
          ...(kind === 'histogram' ? ['_bucket', '_sum', '_count'] : kind === 'summary' ? ['_sum', '_count'] : []).map((x) => name + x),
        );
        continue;
      }
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s/.exec(line);
      if (!sample) continue;
      const pushedJob = honorJob ? /(?:^\{|,)job="([^"]*)"/.exec(sample[2] ?? '')?.[1] : undefined;
      add(pushedJob ?? job, sample[1]!);
    }
  }
  return exported;
}

/** About 32 MB of small short-lived objects (small, so they land in the young generation). */
function makeGarbage(): number {
  let kept = 0;
  for (let i = 0; i < 32 * 1024; i++) kept += new Array(128).fill(i).length;
  return kept;
}

async function driveTraffic(): Promise<void> {
  const sensor = await createSensor(svc.url);
  const limited = await createSensor(svc.url);
  const types = ['temperature', 'humidity', 'door'];
  const dup = { id: randomUUID(), type: 'temperature', payload: { celsius: 20 } };
  const expectStatus = async (what: string, p: Promise<{ status: number }>, status: number) => {
    const got = (await p).status;
    if (got !== status) throw new Error(`${what}: expected ${status}, got ${got}`);
  };
  for (let round = 0; round < 6; round++) {
    const events = Array.from({ length: 20 }, (_, i) => ({ id: randomUUID(), type: types[i % 3], payload: { v: i } }));
    await expectStatus('batch', postEvents(svc.url, sensor.token, { events }), 202);
    await expectStatus('duplicate', postEvents(svc.url, sensor.token, dup), 202);
    await expectStatus('invalid event', postEvents(svc.url, sensor.token, { events: [{ type: 42 }] }), 400);
    await expectStatus('bad token', postEvents(svc.url, 'not-a-token', { events: [] }), 401);
    const tooLarge = (await postEvents(svc.url, sensor.token, { events: [{ type: 'x', payload: { s: 'x'.repeat(20_000) } }] })).status;
    if (![400, 413].includes(tooLarge)) throw new Error(`too large payload: got ${tooLarge}`);
    // 160 events a round against a limit of 300 per window: 202 once, then 429s.
    const limitedStatus = (
      await postEvents(svc.url, limited.token, { events: Array.from({ length: 160 }, () => ({ type: 'door', payload: {} })) })
    ).status;
    if (![202, 429].includes(limitedStatus)) throw new Error(`rate-limited sensor: got ${limitedStatus}`);
    await expectStatus('read-back', getJson(`${svc.url}/api/v1/events?limit=10`, sensor.token), 200);
    await expectStatus('whoami', getJson(`${svc.url}/api/v1/sensor`, sensor.token), 200);
    await expectStatus('sensors', getJson(`${svc.url}/api/v1/sensors`, ADMIN_TOKEN), 200);
    await expectStatus('unknown path', getJson(`${svc.url}/api/v1/nope`), 404);
    await expectStatus('openapi', getJson(`${svc.url}/api/v1/openapi.json`), 200);
    await sleep(1000);
  }
  const del = await fetch(`${svc.url}/api/v1/sensors/${randomUUID()}`, { method: 'DELETE', headers: bearer(ADMIN_TOKEN) });
  await del.arrayBuffer();
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(process.env.TEST_STACK_DIR ?? fs.mkdtempSync('/tmp/e2e-'), 'observability-e2e-'));
  fs.chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user and must reach its directory
  postgres = new PostgresServer({ dir: path.join(dir, 'postgres'), port: await freePort(), fast: true });
  await postgres.start();
  await runMigrations(postgres.url, { quiet: true });
  const webhookUrl = await startWebhook();
  const ports = {
    prometheus: await freePort(),
    pushgateway: await freePort(),
    alertmanager: await freePort(),
    postgresExporter: await freePort(),
    redisExporter: await freePort(),
  };
  svc = await startTestService({ DATABASE_URL: postgres.url, RATE_LIMIT_EVENTS: '300', LOG_LEVEL: 'warn', DB_CONNECT_TIMEOUT_MS: '500' });
  monitoring = await startMonitoringStack({
    dir: path.join(dir, 'monitoring'),
    ports,
    appTargets: [`127.0.0.1:${svc.port}`],
    databaseUrl: postgres.url,
    redisUrl: process.env.TEST_REDIS_URL!,
    pagerUrl: `${webhookUrl}/pager`,
    ticketUrl: `${webhookUrl}/ticket`,
    heartbeatUrl: `${webhookUrl}/heartbeat`,
    scrapeInterval: `${SCRAPE_SECONDS}s`,
    evaluationInterval: `${SCRAPE_SECONDS}s`,
    ruleFiles: testRuleFiles(),
    alertmanagerTiming: { groupWait: '1s', groupInterval: '1s', repeatInterval: '1m' },
    alertResendDelay: '1s',
  });
  await waitFor('Prometheus to scrape the service', () => instantHasData('up{job="event-service"} == 1'), 20000, 250);

  trafficStart = Date.now() / 1000;
  await driveTraffic();
  const code = await runMaintenanceJob({ DATABASE_URL: postgres.url, PUSHGATEWAY_URL: monitoring.pushgateway.url, LOG_LEVEL: 'silent' });
  if (code !== 0) throw new Error(`the maintenance job exited ${code}`);
  await waitFor(
    'the pushed maintenance metrics in Prometheus',
    () => instantHasData('maintenance_last_success_timestamp_seconds'),
    20000,
    250,
  );
  await waitFor('the SLO recording rules', () => instantHasData('slo:sli_error:ratio_rate30d'), 20000, 250);
  // The service runs in this process. Node 24 sizes the young generation from the machine's memory, so the test's
  // traffic may end before any collection: make garbage until the service's GC metrics have seen one.
  await waitFor(
    'a garbage collection in the service’s metrics',
    () => {
      makeGarbage();
      return instantHasData(`increase(nodejs_gc_duration_seconds_count{job="${APP_JOB}"}[5s]) > 0`);
    },
    20000,
    250,
  );
  await sleep(3000); // a few more scrapes, so every rate window covers the traffic
}, 120_000);

afterAll(async () => {
  await monitoring?.stop();
  await svc?.shutdown();
  await postgres?.stop();
  await new Promise((r) => (webhook ? webhook.close(r) : r(undefined)));
}, 60_000);

interface DashboardQuery {
  name: string;
  expr: string;
  /** The template variables of its dashboard, $datasource aside. */
  variables: string[];
}

/** Every panel and annotation query of every dashboard, named by dashboard, panel and refId. */
function dashboardQueries(): DashboardQuery[] {
  return allDashboards().flatMap((d) => {
    const variables = (d.templating?.list ?? []).map((v) => v.name ?? '').filter((n) => n && n !== 'datasource');
    const annotations = (d.annotations?.list ?? [])
      .filter((a) => a.expr)
      .map((a) => ({ name: `${d.uid} / annotation ${a.name}`, expr: a.expr!, variables }));
    return [
      ...annotations,
      ...(d.panels ?? []).flatMap((p) => {
        const panel = p as { title?: string; targets?: Array<{ refId?: string; expr?: string }> };
        return (panel.targets ?? []).map((t) => ({ name: `${d.uid} / ${panel.title} / ${t.refId}`, expr: t.expr ?? '', variables }));
      }),
    ];
  });
}

const panels = dashboardQueries();

/** Every recording and alert rule of alerts/rules, as Prometheus loads them. */
function renderedRules(): Array<{ alert?: string; record?: string; expr: string }> {
  return ruleFilePaths().flatMap((f) =>
    (
      YAML.parse(fs.readFileSync(f, 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }> }
    ).groups.flatMap((g) => g.rules),
  );
}

/** The queries of the promotion gate and of the canary analysis, which read the same service metrics. */
function deliveryGateQueries(): Array<{ name: string; expr: string }> {
  return [
    ...Object.entries(versionQueries('1.0.0', { soakMinutes: 60, burnMinutes: 5 })).map(([name, expr]) => ({ name: `gate ${name}`, expr })),
    ...canaryAnalysisMetrics('event-service', canaryThresholds(DEFAULT_PROMOTION)).map((m) => ({
      name: `canary ${m.name}`,
      expr: m.query,
    })),
  ];
}

describe('the dashboards on the running stack', () => {
  test('when the dashboards are read, then there are panel queries to check', () => {
    expect(panels.length).toBeGreaterThan(40);
    for (const name of Object.keys(NO_DATA_EXPECTED)) expect(panels.map((p) => p.name)).toContain(name);
  });

  test('when every dashboard panel and annotation query is run over the traffic window, then each parses and returns data', async () => {
    const end = Math.ceil(Date.now() / 1000);
    const start = Math.floor(trafficStart) - 2;
    const step = 1;
    const problems: string[] = [];
    for (const p of panels) {
      // No CloudNativePG instance runs here: dashboards/test/cnpg-panels.test.ts proves those panels on its series.
      if (p.expr.includes(`job="${CNPG_JOB}"`)) continue;
      let query: string;
      try {
        query = substitute(p.expr, p.variables, end - start, step);
      } catch (err) {
        problems.push(`${p.name}: ${(err as Error).message} — ${p.expr}`);
        continue;
      }
      const r = await prom('query_range', { query, start: String(start), end: String(end), step: String(step) });
      if (r.status !== 'success') {
        problems.push(`${p.name}: does not parse or fails: ${r.error} — ${query}`);
        continue;
      }
      const finite = (r.data?.result ?? []).some((s) => (s.values ?? []).some(([, v]) => Number.isFinite(Number(v))));
      if (!finite && !NO_DATA_EXPECTED[p.name] && !readsOnlyTheCluster(query)) problems.push(`${p.name}: no data — ${query}`);
    }
    expect(problems).toEqual([]);
  }, 120_000);

  test('when the $instance variable is resolved like Grafana does, then it lists the scraped instance', async () => {
    const res = await fetch(
      `${monitoring.prometheus.url}/api/v1/label/instance/values?match[]=${encodeURIComponent('up{job="event-service"}')}`,
    );
    const body = (await res.json()) as { data: string[] };
    expect(body.data).toContain(`127.0.0.1:${svc.port}`);
  });

  test('when a panel uses a variable its dashboard does not define, then the substitution refuses it', () => {
    expect(() => substitute('up{instance=~"$instance"}', [], 60, 1)).toThrow(/\$instance is not a variable of this dashboard/);
    expect(substitute('up{instance=~"$instance"}', ['instance'], 60, 1)).toBe('up{instance=~".*"}');
  });
});

describe('the rules on the running stack', () => {
  test('when every recording and alert expression is run, then each parses, and Prometheus evaluates every rule without error', async () => {
    const rules = renderedRules();
    const problems: string[] = [];
    for (const rule of rules) {
      const r = await prom('query', { query: rule.expr });
      if (r.status !== 'success') problems.push(`${rule.alert ?? rule.record}: ${r.error}`);
    }
    expect(problems).toEqual([]);
    // The recording rules produce the SLIs from the real traffic.
    expect(await instantHasData('slo:sli_error:ratio_rate5m{slo="availability"}')).toBe(true);
    expect(await instantHasData('slo:sli_error:ratio_rate5m{slo="latency"}')).toBe(true);

    const loaded = (await (await fetch(`${monitoring.prometheus.url}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> };
    };
    const evaluated = loaded.data.groups.flatMap((g) => g.rules);
    expect(evaluated).toHaveLength(rules.length);
    expect(evaluated.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`)).toEqual([]);
  });

  test('when every rule, panel and gate query is read, then each metric it reads is exported by a target of its job or recorded by a rule', async () => {
    const rules = renderedRules();
    const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
    const queries = [
      ...rules.map((r) => ({ name: `rule ${r.alert ?? r.record}`, expr: r.expr })),
      ...panels.map((p) => ({ name: `panel ${p.name}`, expr: substitute(p.expr, p.variables, 300, 15) })),
      ...deliveryGateQueries(),
    ];
    const exported = await exportedByJob();
    const everywhere = new Set([...exported.values()].flatMap((names) => [...names]));
    // CloudNativePG runs no instance here: its metrics (and its targets' `up`) are proven on synthetic series of the same
    // names instead (alerts/test/promtool/database.test.yml, the dashboard test); the test below holds that list honest.
    const provenElsewhere = (ref: { name: string; job?: string }) =>
      ref.job === CNPG_JOB && (ref.name === 'up' || (Object.values(CNPG_METRICS) as string[]).includes(ref.name));
    const problems = queries.flatMap((q) =>
      metricReferences(q.expr)
        .filter((ref) => !CLUSTER_JOBS.includes(ref.job ?? '') && !provenElsewhere(ref))
        .filter((ref) => !recorded.has(ref.name) && !(ref.job === undefined ? everywhere : exported.get(ref.job))?.has(ref.name))
        .map((ref) => `${q.name}: ${ref.name}${ref.job === undefined ? '' : ` (job ${ref.job})`} is exported by no target`),
    );
    expect(queries.length).toBeGreaterThan(90);
    expect([...new Set(problems)]).toEqual([]);
  });

  test('when a rule reads a CloudNativePG metric that no target here exports, then the promtool tests feed it as a synthetic series of that name', () => {
    const promtool = fs.readFileSync(path.join(__dirname, 'promtool', 'database.test.yml'), 'utf8');
    const fed = new Set([...promtool.matchAll(/series: '([a-z_:]+)\{/g)].map((m) => m[1]));
    expect(Object.values(CNPG_METRICS).filter((name) => !fed.has(name))).toEqual([]);
  });
});

describe('the metrics of the contract', () => {
  test('when every target is scraped, then the service exports every metric of the contract and the maintenance job pushed every one of its own', async () => {
    const exported = await exportedByJob();
    const missing = (job: string, specs: Record<string, { name: string }>) =>
      Object.values(specs)
        .map((m) => m.name)
        .filter((name) => !exported.get(job)?.has(name))
        .map((name) => `${job}: ${name}`);
    expect([...missing(APP_JOB, SERVICE_METRICS), ...missing(MAINTENANCE_JOB, MAINTENANCE_METRICS)]).toEqual([]);
  });
});

// Last: the outage test stops PostgreSQL.
describe('alert delivery', () => {
  test('when the stack runs, then the always-firing Watchdog reaches the heartbeat webhook, and only that one', async () => {
    const heartbeat = () => notifications.find((n) => n.status === 'firing' && n.alerts.some((a) => a.labels.alertname === WATCHDOG_ALERT));
    await waitFor(`${WATCHDOG_ALERT} delivered to the webhook`, async () => heartbeat() !== undefined, 30_000, 250);
    const delivered = heartbeat()!;
    expect(delivered.path).toBe('/heartbeat');
    expect(delivered.receiver).toBe('heartbeat');
    // The alert's link opens the Prometheus that evaluated it (make local prints that address).
    expect(delivered.alerts[0]!.generatorURL).toMatch(new RegExp(`^${monitoring.prometheus.url}/graph\\?`));
    expect(notifications.filter((n) => n.path !== '/heartbeat' && n.alerts.some((a) => a.labels.alertname === WATCHDOG_ALERT))).toEqual([]);
  }, 40_000);

  test('when PostgreSQL stops, then the database page reaches the pager webhook through Alertmanager', async () => {
    expect(notifications.filter((n) => n.alerts.some((a) => a.labels.alertname === OUTAGE_ALERT))).toEqual([]);
    await postgres.stop();
    const page = () =>
      notifications.find(
        (n) => n.status === 'firing' && n.alerts.some((a) => a.labels.alertname === OUTAGE_ALERT && a.status === 'firing'),
      );
    await waitFor(`${OUTAGE_ALERT} delivered to the webhook`, async () => page() !== undefined, 60_000, 250);
    const delivered = page()!;
    expect(delivered.path).toBe('/pager');
    expect(delivered.receiver).toBe('pager');
    const alert = delivered.alerts.find((a) => a.labels.alertname === OUTAGE_ALERT)!;
    expect(alert.labels).toMatchObject({ severity: 'critical', job: 'event-service', instance: `127.0.0.1:${svc.port}` });
    expect(alert.annotations.summary).toBe('The event service cannot reach PostgreSQL, so it cannot store events.');
    expect(alert.annotations.runbook_url).toMatch(/runbook\.md#eventservicepostgresunreachable$/);
  }, 90_000);
});
