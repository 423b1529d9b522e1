/**
 * The Kubernetes row of the Resources dashboard and the Kubernetes rules, on a real Prometheus. kube-state-metrics,
 * the kubelet and cAdvisor cannot run here (no cluster), so series of their exact names and labels
 * (CLUSTER_METRICS) are written as OpenMetrics text, turned into blocks by `promtool tsdb create-blocks-from
 * openmetrics` and loaded by Prometheus. The scenario: in the last three hours the service's container was OOM
 * killed, PostgreSQL crash loops (so its Cluster has no ready instance), and Prometheus' volume fills up; the rest of
 * the stack is healthy.
 */
import fs from 'node:fs';
import YAML from 'yaml';
import { allDashboards } from '../src/index';
import {
  CLUSTER_JOBS,
  CLUSTER_METRICS,
  CNPG_CLUSTER_STATE_METRICS,
  KUBE_STATE_METRICS_JOB,
  KUBELET_JOB,
  ruleFilePaths,
} from '../../monitoring/src';
import { metricReferences } from '../../monitoring/src/promql-names';
import { startBackfilledPrometheus } from '../../tools/stack/backfilled-prometheus';
import type { Running } from '../../tools/stack/process';

const NAMESPACE = 'event-stack-test';
const STEP_SECONDS = 30;
const HOURS = 3;
const MI = 1024 * 1024;
const GI = 1024 * MI;

type Labels = Record<string, string>;
interface Series {
  metric: string;
  labels: Labels;
  /** The value at `t` seconds after the scenario's start. */
  value: (t: number) => number;
}

const ksm = (metric: string, labels: Labels, value: Series['value']): Series => ({
  metric,
  labels: { job: KUBE_STATE_METRICS_JOB, namespace: NAMESPACE, ...labels },
  value,
});
const kubelet = (metric: string, labels: Labels, value: Series['value']): Series => ({
  metric,
  labels: { job: KUBELET_JOB, namespace: NAMESPACE, ...labels },
  value,
});

const END = HOURS * 3600;
/** The service's container was OOM killed 5 minutes before the end. */
const OOM_AT = END - 300;
const app = { pod: 'event-service-5c7d9-x2k4p', container: 'event-service' };
const postgres = { pod: 'postgres-0', container: 'postgres' };
const prometheusPvc = { persistentvolumeclaim: 'data-prometheus-0' };
const cronjobs = ['event-service-maintenance', 'postgres-backup'];

function scenario(start: number): Series[] {
  const constant = (v: number) => () => v;
  return [
    kubelet('container_memory_working_set_bytes', { ...app, image: 'registry.example.com/event-service:1.0.0' }, (t) =>
      t < OOM_AT ? 200 * MI + (t / OOM_AT) * 300 * MI : 150 * MI,
    ),
    kubelet('container_memory_working_set_bytes', { ...postgres, image: 'postgres:16.4' }, constant(300 * MI)),
    ksm('kube_pod_container_resource_limits', { ...app, resource: 'memory', unit: 'byte' }, constant(512 * MI)),
    ksm('kube_pod_container_resource_limits', { ...app, resource: 'cpu', unit: 'core' }, constant(1)),
    ksm('kube_pod_container_resource_limits', { ...postgres, resource: 'memory', unit: 'byte' }, constant(1 * GI)),
    ksm('kube_pod_container_status_restarts_total', app, (t) => (t < OOM_AT ? 0 : 1)),
    ksm('kube_pod_container_status_restarts_total', postgres, (t) => Math.max(0, Math.floor((t - END + 1800) / 600))),
    ksm('kube_pod_container_status_last_terminated_reason', { ...app, reason: 'OOMKilled' }, constant(1)),
    ksm('kube_pod_container_status_last_terminated_reason', { ...postgres, reason: 'Error' }, constant(1)),
    ksm('kube_pod_container_status_waiting_reason', { ...postgres, reason: 'CrashLoopBackOff' }, (t) => (t > END - 1800 ? 1 : 0)),
    // The database's Cluster (one instance) as kube-state-metrics reads it: not ready while PostgreSQL crash loops.
    ksm(CNPG_CLUSTER_STATE_METRICS.desiredInstances, { cluster: 'postgres' }, constant(1)),
    ksm(CNPG_CLUSTER_STATE_METRICS.readyInstances, { cluster: 'postgres' }, (t) => (t > END - 1800 ? 0 : 1)),
    ksm('kube_deployment_spec_replicas', { deployment: 'event-service' }, constant(3)),
    ksm('kube_deployment_status_replicas_available', { deployment: 'event-service' }, constant(3)),
    ksm('kube_deployment_status_replicas_updated', { deployment: 'event-service' }, constant(3)),
    ksm('kube_horizontalpodautoscaler_spec_max_replicas', { horizontalpodautoscaler: 'event-service' }, constant(10)),
    ksm('kube_horizontalpodautoscaler_spec_min_replicas', { horizontalpodautoscaler: 'event-service' }, constant(3)),
    ksm('kube_horizontalpodautoscaler_status_current_replicas', { horizontalpodautoscaler: 'event-service' }, constant(3)),
    ...cronjobs.flatMap((cronjob) => [
      ksm('kube_cronjob_status_last_schedule_time', { cronjob }, constant(start + 600)),
      ksm('kube_cronjob_status_last_successful_time', { cronjob }, constant(start + 660)),
      ksm('kube_cronjob_status_active', { cronjob }, constant(0)),
      ksm('kube_cronjob_next_schedule_time', { cronjob }, constant(start + 600 + 86400)),
      ksm('kube_cronjob_spec_suspend', { cronjob }, constant(0)),
    ]),
    // 70 % used at the start, 90 % at the end: 6.7 points an hour, full within a day.
    kubelet('kubelet_volume_stats_capacity_bytes', prometheusPvc, constant(50 * GI)),
    kubelet('kubelet_volume_stats_available_bytes', prometheusPvc, (t) => 50 * GI * (0.3 - 0.2 * (t / END))),
  ];
}

/** The alerts the scenario makes true at its end (before their `for`). */
const EXPECTED_ALERTS = [
  'EventPostgresInstancesNotReady',
  'EventStackContainerOOMKilled',
  'EventStackPodCrashLooping',
  'EventStackVolumeAlmostFull',
  'EventStackVolumeFillingUp',
];

function openMetrics(series: Series[], start: number): string {
  const lines: string[] = [];
  const byMetric = new Map<string, Series[]>();
  for (const s of series) byMetric.set(s.metric, [...(byMetric.get(s.metric) ?? []), s]);
  for (const [metric, list] of byMetric)
    for (const s of list) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(',');
      for (let t = 0; t <= END; t += STEP_SECONDS) lines.push(`${metric}{${labels}} ${s.value(t)} ${start + t}`);
    }
  return `${lines.join('\n')}\n# EOF\n`;
}

let prometheus: Running & { url: string };
let start: number;

async function query(expr: string, time: number) {
  const res = await fetch(`${prometheus.url}/api/v1/query`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr, time: String(time) }).toString(),
  });
  return (await res.json()) as { status: string; error?: string; data?: { result: Array<{ metric: Labels; value: [number, string] }> } };
}

async function queryRange(expr: string) {
  const params = { query: expr, start: String(start), end: String(start + END), step: String(STEP_SECONDS) };
  const res = await fetch(`${prometheus.url}/api/v1/query_range`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return (await res.json()) as { status: string; error?: string; data?: { result: Array<{ values: Array<[number, string]> }> } };
}

const kubernetesRow = (() => {
  const resources = allDashboards().find((d) => d.uid === 'event-service-resources')!;
  const panels = resources.panels as Array<{ type?: string; title?: string; targets?: Array<{ refId?: string; expr?: string }> }>;
  const row = panels.findIndex((p) => p.type === 'row' && p.title === 'Kubernetes');
  const next = panels.findIndex((p, i) => i > row && p.type === 'row');
  return panels.slice(row + 1, next === -1 ? undefined : next);
})();

/** Grafana's macros and the row's variable, as Grafana fills them at this scrape interval. */
const substitute = (expr: string) => expr.replace(/\$__rate_interval\b/g, `${4 * STEP_SECONDS}s`).replace(/\$\{?namespace\}?/g, NAMESPACE);

/** Any panel query made parsable for reading its metric names (every macro a duration or number, every variable `.*`). */
const parsable = (expr: string) =>
  expr
    .replace(/\$__(range_s|interval_ms)\b/g, '60')
    .replace(/\$__\w+/g, '1m')
    .replace(/\$\{?[a-z]\w*\}?/g, '.*');

const kubernetesRules = () =>
  (
    YAML.parse(
      fs.readFileSync(
        ruleFilePaths().find((f) => f.endsWith('kubernetes.yml'))!,
        'utf8',
      ),
    ) as {
      groups: Array<{ rules: Array<{ alert?: string; expr: string }> }>;
    }
  ).groups.flatMap((g) => g.rules);

beforeAll(async () => {
  // Whole hours back, so the blocks' two-hour boundaries do not matter; the last sample a minute ago.
  start = Math.floor(Date.now() / 1000) - END - 60;
  prometheus = await startBackfilledPrometheus('kubernetes-panels', openMetrics(scenario(start), start));
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
});

describe('the Kubernetes row and rules on kube-state-metrics and kubelet series', () => {
  test('when the Resources dashboard is read, then its Kubernetes row has the memory, restart, OOM and volume panels', () => {
    expect(kubernetesRow.map((p) => p.title)).toEqual(['Memory vs limit', 'Container restarts', 'OOM kills', 'Volume usage']);
  });

  test('when every Kubernetes panel query runs over the scenario, then each returns data', async () => {
    const problems: string[] = [];
    for (const p of kubernetesRow)
      for (const t of p.targets ?? []) {
        const r = await queryRange(substitute(t.expr!));
        const finite = r.data?.result.some((s) => s.values.some(([, v]) => Number.isFinite(Number(v))));
        if (r.status !== 'success' || !finite) problems.push(`${p.title} / ${t.refId}: ${r.error ?? 'no data'} — ${t.expr}`);
      }
    expect(problems).toEqual([]);
  });

  test('when memory vs limit is read at the end, then the OOM-killed service container shows its new working set against 512 MiB', async () => {
    const expr = substitute(kubernetesRow[0]!.targets![0]!.expr!);
    const r = await query(expr, start + END);
    const byContainer = Object.fromEntries(r.data!.result.map((s) => [s.metric.container, Number(s.value[1])]));
    expect(byContainer).toEqual({ [app.container]: (150 * MI) / (512 * MI), [postgres.container]: (300 * MI) / GI });
  });

  test('when every Kubernetes rule runs at the end of the scenario, then exactly the alerts it builds have their condition true', async () => {
    const active: string[] = [];
    for (const rule of kubernetesRules()) {
      const r = await query(rule.expr, start + END);
      expect(r.status).toBe('success');
      if ((r.data?.result.length ?? 0) > 0) active.push(rule.alert!);
    }
    expect(active.sort()).toEqual([...EXPECTED_ALERTS].sort());
  });

  test('when every rule and panel is read, then each cluster metric it reads is one of CLUSTER_METRICS of its job, and present here', async () => {
    const rules = ruleFilePaths().flatMap((f) =>
      (YAML.parse(fs.readFileSync(f, 'utf8')) as { groups: Array<{ rules: Array<{ expr: string }> }> }).groups.flatMap((g) => g.rules),
    );
    const panels = allDashboards().flatMap((d) =>
      (d.panels as Array<{ targets?: Array<{ expr?: string }> }>).flatMap((p) => (p.targets ?? []).map((t) => parsable(t.expr ?? ''))),
    );
    const refs = [...rules.map((r) => r.expr), ...panels].flatMap((e) => metricReferences(e)).filter((r) => CLUSTER_JOBS.includes(r.job!));
    const declared = CLUSTER_METRICS as Record<string, Record<string, readonly string[]>>;
    expect(refs.filter((r) => !declared[r.job!]?.[r.name]).map((r) => `${r.job}: ${r.name}`)).toEqual([]);
    const present = await query(`count by (job, __name__) ({job=~"${CLUSTER_JOBS.join('|')}"})`, start + END);
    const have = new Set(present.data!.result.map((s) => `${s.metric.job} ${s.metric.__name__}`));
    expect([...new Set(refs.map((r) => `${r.job} ${r.name}`))].filter((r) => !have.has(r))).toEqual([]);
  });

  test('when the scenario is written, then every series carries the labels CLUSTER_METRICS gives its metric', () => {
    const declared = CLUSTER_METRICS as Record<string, Record<string, readonly string[]>>;
    for (const s of scenario(0)) expect(Object.keys(s.labels)).toEqual(expect.arrayContaining([...declared[s.labels.job!]![s.metric]!]));
  });
});
