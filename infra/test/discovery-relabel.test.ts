/**
 * The app job's relabelling, run by a real Prometheus: the pod meta labels Kubernetes discovery would attach are
 * fed through file discovery (Debian's Prometheus has no Kubernetes discovery), with the rendered relabel_configs
 * unchanged. Prometheus must keep the unready pod, name targets by pod, keep only the metrics port and drop
 * finished pods — and the offline evaluator of the cluster-semantics suite must agree with it target for target.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { renderClusterPrometheusConfig } from '../../monitoring/src';
import { relabel } from '../semantics/discovery';
import { freePort, waitFor } from '../../tools/stack/process';
import { startPrometheus } from '../../tools/stack/services';
import { tempDir } from '../../tools/promote/test/fixtures';

let dir: string;
let stop: (() => Promise<void>) | undefined;
beforeAll(() => (dir = tempDir('discovery-relabel')));
afterAll(async () => {
  await stop?.();
  fs.rmSync(dir, { recursive: true, force: true });
});

const pod = (name: string, port: [string, number], ready: boolean, phase = 'Running') => ({
  __meta_kubernetes_namespace: 'event-stack-dev',
  __meta_kubernetes_pod_name: name,
  __meta_kubernetes_pod_ready: String(ready),
  __meta_kubernetes_pod_phase: phase,
  __meta_kubernetes_pod_container_port_name: port[0],
  __meta_kubernetes_pod_container_port_number: String(port[1]),
  __meta_kubernetes_pod_label_app_kubernetes_io_name: 'event-service',
});

// What Kubernetes discovery would list: a ready pod (its metrics port and an inspector port), a pod failing
// readiness (PostgreSQL down), and an evicted one.
const DISCOVERED = [
  pod('event-service-7f9c-a', ['http', 8080], true),
  pod('event-service-7f9c-a', ['inspector', 9229], true),
  pod('event-service-7f9c-b', ['http', 8080], false),
  pod('event-service-6d2e-c', ['http', 8080], false, 'Failed'),
];

test('when Prometheus relabels the discovered app pods, then the unready pod stays a target named by its pod, and the offline evaluator agrees', async () => {
  const rendered = parse(
    renderClusterPrometheusConfig({
      appPods: { namespace: 'event-stack-dev', labels: { 'app.kubernetes.io/name': 'event-service' }, portName: 'http' },
      pushgateway: 'pushgateway:9091',
      alertmanagers: ['alertmanager:9093'],
      prometheus: 'localhost:9090',
      postgresExporter: 'postgres-exporter:9187',
      redisExporter: 'redis-exporter:9121',
      kubeStateMetrics: 'kube-state-metrics:8080',
      rulesDir: '/rules',
      stage: 'dev',
    }),
  );
  const job = rendered.scrape_configs.find((j: { job_name: string }) => j.job_name === 'event-service');
  // Closed loopback ports: Prometheus lists the targets whether or not a scrape succeeds.
  const ports = await Promise.all(DISCOVERED.map(() => freePort()));
  const groups = DISCOVERED.map((labels, i) => ({ targets: [`127.0.0.1:${ports[i]}`], labels }));
  fs.writeFileSync(path.join(dir, 'pods.json'), JSON.stringify(groups));
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s' },
    scrape_configs: [
      {
        job_name: job.job_name,
        metrics_path: job.metrics_path,
        file_sd_configs: [{ files: [path.join(dir, 'pods.json')], refresh_interval: '1s' }],
        relabel_configs: job.relabel_configs,
      },
    ],
  };
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), stringify(config));
  const prom = await startPrometheus({ dir: path.join(dir, 'prom'), port: await freePort(), configFile: path.join(dir, 'prometheus.yml') });
  stop = () => prom.stop();

  let active: { labels: Record<string, string> }[] = [];
  await waitFor('targets', async () => {
    const body = (await (await fetch(`${prom.url}/api/v1/targets`)).json()) as { data: { activeTargets: typeof active } };
    active = body.data.activeTargets;
    return active.length > 0;
  });
  const byPrometheus = active.map((t) => t.labels.instance).sort();
  expect(byPrometheus).toEqual(['event-service-7f9c-a', 'event-service-7f9c-b']);

  const offline = groups
    .map((g) => relabel({ ...g.labels, __address__: g.targets[0]!, job: job.job_name }, job.relabel_configs))
    .filter((l) => l !== undefined)
    .map((l) => l!.instance)
    .sort();
  expect(offline).toEqual(byPrometheus);
}, 60000);
