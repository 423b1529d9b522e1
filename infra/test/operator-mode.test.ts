/**
 * Operator mode: the staging stack file with `event-stack:monitoring` set to the operator of a cluster that runs
 * kube-prometheus-stack (a fixture: no real stack uses it yet), run offline. It must declare schema-valid
 * Prometheus Operator resources built from the repository's rules, routes and dashboards, and none of the
 * bundled Prometheus, Alertmanager or Grafana.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { ALERTMANAGER_TEMPLATE, kubernetesRuleFile, renderRuleFile, ruleFilePaths } from '../../monitoring/src';
import { dashboardFiles } from '../monitoring';
import { violations } from '../policies/rules';
import { schemaProblems } from './kubernetes-schema';
import type { KubernetesObject, OfflineRun, RunOptions } from '../offline';
import { objectsOutsideStackProvider, runFailure, runIsolated } from './offline-run';

const MATCH_LABELS = { release: 'kube-prometheus-stack' };
const OPERATOR_FIXTURE: RunOptions = {
  set: { 'event-stack:monitoring': JSON.stringify({ mode: 'operator', namespace: 'monitoring', matchLabels: MATCH_LABELS }) },
  remove: ['event-stack:prometheus', 'event-stack:alertmanager', 'event-stack:grafana', 'event-stack:kubeStateMetrics'],
};

const STACK = 'staging';
const NAMESPACE = 'event-stack-staging';
const run = (options: RunOptions) => runIsolated(STACK, options);
const failure = (options: RunOptions) => runFailure(STACK, options);

type Obj = KubernetesObject & { spec: any; data?: Record<string, string>; stringData?: Record<string, string> };
let r: OfflineRun;
const all = (kind: string) => r.kubernetesObjects.filter((o) => o.kind === kind) as Obj[];
const one = (kind: string, name: string) => {
  const found = all(kind).find((o) => o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
};

process.setMaxListeners(64);
beforeAll(async () => {
  r = await run(OPERATOR_FIXTURE);
}, 60_000);

describe('operator mode (fixture: staging with the cluster’s kube-prometheus-stack): what it deploys of its own', () => {
  test('when the program runs, then it deploys no kube-state-metrics and no kubelet access of its own (kube-prometheus-stack provides both)', () => {
    const own = r.kubernetesObjects.filter(
      (o) => /kube-state-metrics|kubelet/.test(o.metadata.name) || /^Cluster(Role|RoleBinding)$/.test(o.kind),
    );
    expect(own.map((o) => `${o.kind} ${o.metadata.name}`)).toEqual([]);
  });

  test('when the program runs, then it deploys no Prometheus, Alertmanager or Grafana of its own, and exports no Grafana URL', () => {
    const own = r.kubernetesObjects
      .filter((o) => /^(prometheus|alertmanager|grafana)/.test(o.metadata.name) && !/Monitor$|NetworkPolicy/.test(o.kind))
      .map((o) => `${o.kind} ${o.metadata.name}`);
    expect(own).toEqual(['Secret alertmanager-receivers']); // the receiver URLs the operator's Alertmanager reads
    expect(r.outputs.grafanaUrl).toBeUndefined();
  });

  test('when the program runs, then every Kubernetes object, the operator’s custom resources included, is managed by the stack’s provider', () => {
    expect(objectsOutsideStackProvider(r)).toEqual([]);
  });

  test('when the program runs, then every object, the operator’s custom resources included, validates against its schema and obeys the policy pack', () => {
    const kinds = new Set(r.kubernetesObjects.map((o) => o.kind));
    for (const kind of ['PodMonitor', 'ServiceMonitor', 'PrometheusRule', 'AlertmanagerConfig']) expect(kinds).toContain(kind);
    expect(schemaProblems(r.kubernetesObjects)).toEqual([]);
    expect(violations(r.kubernetesObjects, 'staging')).toEqual([]);
  });

  test('when the program runs, then the operator’s Prometheus pods may scrape the app, the Pushgateway and the exporters', () => {
    const fromMonitoring = {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
    };
    const policies = all('NetworkPolicy');
    for (const target of ['event-service', 'pushgateway', 'postgres-exporter', 'redis-exporter']) {
      const from = policies
        .filter((p) => p.spec.podSelector.matchLabels?.['app.kubernetes.io/name'] === target)
        .flatMap((p) => p.spec.ingress.flatMap((i: { from: unknown[] }) => i.from));
      expect(from).toContainEqual(fromMonitoring);
    }
  });
});

describe('operator mode (fixture: staging with the cluster’s kube-prometheus-stack): the PrometheusRule and the monitors', () => {
  test('when the program runs, then every selector of the cluster exporters in the PrometheusRule names the stack namespace (the operator sees every namespace)', () => {
    const exprs = (one('PrometheusRule', 'event-stack').spec.groups as Array<{ rules: Array<{ expr: string }> }>).flatMap((g) =>
      g.rules.map((r) => r.expr),
    );
    const clusterSelectors = exprs.flatMap((e) => e.match(/\w+\{job="(kube-state-metrics|kubelet)"[^}]*\}/g) ?? []);
    expect(clusterSelectors.length).toBeGreaterThan(15);
    expect(clusterSelectors.filter((sel) => !sel.includes(`namespace="${NAMESPACE}"`))).toEqual([]);
  });

  test('when the program runs, then the PrometheusRule holds exactly the groups of alerts/rules (the Kubernetes ones scoped to the stack namespace), and promtool accepts them', () => {
    const rule = one('PrometheusRule', 'event-stack');
    expect(rule.metadata.labels).toMatchObject(MATCH_LABELS);
    const groupsOf = (text: string) => (parse(text) as { groups: unknown[] }).groups;
    const expected = ruleFilePaths().flatMap((f) =>
      path.basename(f) === 'kubernetes.yml'
        ? groupsOf(renderRuleFile(kubernetesRuleFile(NAMESPACE)))
        : groupsOf(fs.readFileSync(f, 'utf8')),
    );
    expect(rule.spec.groups).toEqual(expected);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'operator-rules-'));
    try {
      fs.writeFileSync(path.join(dir, 'rules.yml'), stringify(rule.spec));
      execFileSync('promtool', ['check', 'rules', path.join(dir, 'rules.yml')], { stdio: 'pipe' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('when the program runs, then the app pods, the Pushgateway and both exporters are scraped under the contract’s job names with pod names as instances', () => {
    const pod = one('PodMonitor', 'event-service');
    expect(pod.metadata.labels).toMatchObject(MATCH_LABELS);
    expect(pod.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'event-service', 'app.kubernetes.io/component': 'server' });
    const endpoint = pod.spec.podMetricsEndpoints[0];
    expect(endpoint).toMatchObject({ port: 'http', path: '/metrics' });
    expect(endpoint.relabelings).toContainEqual({ action: 'replace', targetLabel: 'job', replacement: 'event-service' });
    expect(endpoint.relabelings).toContainEqual({
      action: 'replace',
      sourceLabels: ['__meta_kubernetes_pod_name'],
      targetLabel: 'instance',
    });
    const monitors = Object.fromEntries(all('ServiceMonitor').map((m) => [m.metadata.name, m]));
    expect(Object.keys(monitors).sort()).toEqual(['postgres-exporter', 'pushgateway', 'redis-exporter']);
    for (const [name, m] of Object.entries(monitors)) {
      expect(m.metadata.labels).toMatchObject(MATCH_LABELS);
      // Each selects a Service that exists, on a port that Service names.
      const svc = one('Service', name);
      expect(m.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': name });
      expect(svc.spec.ports.map((p: { name: string }) => p.name)).toContain(m.spec.endpoints[0].port);
      expect(m.spec.endpoints[0].relabelings).toContainEqual({ action: 'replace', targetLabel: 'job', replacement: name });
    }
    expect(monitors.pushgateway!.spec.endpoints[0].honorLabels).toBe(true);
  });
});

describe('operator mode (fixture: staging with the cluster’s kube-prometheus-stack): the alert routes and the dashboards', () => {
  test('when the program runs, then the AlertmanagerConfig routes as alerts/alertmanager.yml does, with the receiver URLs from a Secret', () => {
    const config = one('AlertmanagerConfig', 'event-stack');
    expect(config.metadata.labels).toMatchObject(MATCH_LABELS);
    const template = parse(fs.readFileSync(ALERTMANAGER_TEMPLATE, 'utf8')) as {
      route: { receiver: string; routes: Array<{ receiver: string; matchers: string[] }> };
      receivers: Array<{ name: string }>;
    };
    const asText = (m: { name: string; matchType: string; value: string }) => `${m.name}${m.matchType}"${m.value}"`;
    expect(config.spec.route.receiver).toBe(template.route.receiver);
    expect(
      config.spec.route.routes.map((x: { receiver: string; matchers: Array<{ name: string; matchType: string; value: string }> }) => ({
        receiver: x.receiver,
        matchers: x.matchers.map(asText),
      })),
    ).toEqual(template.route.routes.map((x) => ({ receiver: x.receiver, matchers: x.matchers })));
    expect(config.spec.receivers.map((x: { name: string }) => x.name)).toEqual(template.receivers.map((x) => x.name));
    const secret = one('Secret', 'alertmanager-receivers').stringData!;
    for (const receiver of config.spec.receivers as Array<{
      name: string;
      webhookConfigs: Array<{ urlSecret: { name: string; key: string } }>;
    }>) {
      expect(receiver.webhookConfigs[0]!.urlSecret).toEqual({ name: 'alertmanager-receivers', key: receiver.name });
      expect(secret[receiver.name]).toMatch(/^https:\/\/.+\.test\.invalid\//);
    }
  });

  test('when the program runs, then each dashboard of dashboards/json is a ConfigMap the Grafana sidecar loads', () => {
    const maps = all('ConfigMap').filter((c) => c.metadata.labels?.grafana_dashboard === '1');
    expect(Object.assign({}, ...maps.map((c) => c.data))).toEqual(dashboardFiles());
    expect(maps.every((c) => Object.keys(c.data ?? {}).length === 1)).toBe(true);
  });
});

describe('when operator mode is misconfigured, then the program fails before declaring anything, naming the key', () => {
  test.each([
    ['an unknown mode', { mode: 'sidecar' }, /event-stack:monitoring\.mode/],
    ['no matchLabels', { mode: 'operator', namespace: 'monitoring' }, /event-stack:monitoring\.matchLabels/],
    ['no namespace', { mode: 'operator', matchLabels: MATCH_LABELS }, /event-stack:monitoring\.namespace/],
  ])('%s', async (_what, monitoring, message) => {
    const error = await failure({ ...OPERATOR_FIXTURE, set: { 'event-stack:monitoring': JSON.stringify(monitoring) } });
    expect(error.message).toMatch(message);
    expect(error.declared).toEqual([]);
  });
});
