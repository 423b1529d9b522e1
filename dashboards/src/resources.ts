/**
 * Resources (USE): CPU, memory, event loop, GC and heap of each instance; reachability of PostgreSQL and Redis;
 * and the cluster's view of the stack's pods (kube-state-metrics, the kubelet and its cAdvisor).
 */
import { KUBE_STATE_METRICS_JOB, KUBELET_JOB, KUBERNETES_THRESHOLDS, SERVICE_METRICS as S } from '../../monitoring/src';
import { APP, dashboard, INFO, rising, stat, timeseries, UP } from './common';

const KSM = `job="${KUBE_STATE_METRICS_JOB}",namespace=~"$namespace"`;
const KUBELET = `job="${KUBELET_JOB}",namespace=~"$namespace"`;
const CONTAINER = 'namespace, pod, container';

/** The Kubernetes row: every container and volume of the namespaces chosen in $namespace. */
const kubernetesPanels = () => [
  timeseries({
    title: 'Memory vs limit',
    description:
      'Working set of each container (what the OOM killer compares) as a share of its memory limit; at 100% the kernel kills it.',
    unit: 'percentunit',
    min: 0,
    thresholds: rising(0.8, 1),
    queries: [
      {
        expr: [
          `max by (${CONTAINER}) (container_memory_working_set_bytes{${KUBELET},container!=""})`,
          `/ on (${CONTAINER})`,
          `max by (${CONTAINER}) (kube_pod_container_resource_limits{${KSM},resource="memory"})`,
        ].join(' '),
        legend: '{{pod}} {{container}}',
      },
    ],
  }),
  timeseries({
    title: 'Container restarts',
    description: 'Restarts of each container per interval, whatever the reason (crash, failed liveness probe, OOM kill).',
    unit: 'short',
    min: 0,
    queries: [
      {
        expr: `sum by (${CONTAINER}) (increase(kube_pod_container_status_restarts_total{${KSM}}[$__rate_interval]))`,
        legend: '{{pod}} {{container}}',
      },
    ],
  }),
  timeseries({
    title: 'OOM kills',
    description: 'Restarts of each container whose last termination was the OOM killer (its memory limit was reached).',
    unit: 'short',
    min: 0,
    queries: [
      {
        expr: [
          `sum by (${CONTAINER}) (increase(kube_pod_container_status_restarts_total{${KSM}}[$__rate_interval]))`,
          `and on (${CONTAINER})`,
          `kube_pod_container_status_last_terminated_reason{${KSM},reason="OOMKilled"} == 1`,
        ].join(' '),
        legend: '{{pod}} {{container}}',
      },
    ],
  }),
  timeseries({
    title: 'Volume usage',
    description: `Used share of each persistent volume (kubelet statistics); the ticket opens above ${KUBERNETES_THRESHOLDS.volumeUsed * 100}%.`,
    unit: 'percentunit',
    min: 0,
    max: 1,
    thresholds: rising(KUBERNETES_THRESHOLDS.volumeUsed, 0.95),
    queries: [
      {
        expr: `1 - kubelet_volume_stats_available_bytes{${KUBELET}} / kubelet_volume_stats_capacity_bytes{${KUBELET}}`,
        legend: '{{persistentvolumeclaim}}',
      },
    ],
  }),
];

/** The headline: PostgreSQL and Redis reachable, open file descriptors, event-loop lag. */
const headlineStats = () => [
  stat({
    title: 'PostgreSQL reachable',
    description: `Worst ${S.postgresUp.name} across instances: SELECT 1 during the scrape succeeded (1) or failed (0).`,
    unit: 'bool_yes_no',
    thresholds: UP,
    queries: [{ expr: `min(${S.postgresUp.name}{${APP}})`, legend: 'postgres' }],
  }),
  stat({
    title: 'Redis reachable',
    description: `Worst ${S.redisUp.name} across instances; when 0, rate limits fall back to in-process counters.`,
    unit: 'bool_yes_no',
    thresholds: UP,
    queries: [{ expr: `min(${S.redisUp.name}{${APP}})`, legend: 'redis' }],
  }),
  stat({
    title: 'Open file descriptors (max)',
    description: 'Most open file descriptors (sockets included) on any instance.',
    unit: 'short',
    thresholds: INFO,
    queries: [{ expr: `max(process_open_fds{${APP}})`, legend: 'fds' }],
  }),
  stat({
    title: 'Event-loop lag p99 (max)',
    description: 'Worst p99 event-loop lag across instances: time callbacks wait for the busy loop.',
    unit: 's',
    thresholds: rising(0.1, 0.5),
    queries: [{ expr: `max(nodejs_eventloop_lag_p99_seconds{${APP}})`, legend: 'lag p99' }],
  }),
];

/** Each instance's process over time: CPU, memory, event loop, GC, heap, and its dependencies. */
const processPanels = () => [
  timeseries({
    title: 'CPU',
    description: 'CPU time used per second by each instance (1 = one full core).',
    unit: 'percentunit',
    min: 0,
    queries: [{ expr: `rate(process_cpu_seconds_total{${APP}}[$__rate_interval])`, legend: '{{instance}}' }],
  }),
  timeseries({
    title: 'Resident memory',
    description: 'Resident set size of each instance’s process.',
    unit: 'bytes',
    queries: [{ expr: `process_resident_memory_bytes{${APP}}`, legend: '{{instance}}' }],
  }),
  timeseries({
    title: 'Event-loop lag',
    description: 'Mean and p99 event-loop lag per instance; high lag delays every request.',
    unit: 's',
    queries: [
      { expr: `nodejs_eventloop_lag_seconds{${APP}}`, legend: 'mean {{instance}}' },
      { expr: `nodejs_eventloop_lag_p99_seconds{${APP}}`, legend: 'p99 {{instance}}' },
    ],
  }),
  timeseries({
    title: 'Garbage collection',
    description: 'Share of time spent in garbage collection, by GC kind, all instances.',
    unit: 'percentunit',
    queries: [{ expr: `sum by (kind) (rate(nodejs_gc_duration_seconds_sum{${APP}}[$__rate_interval]))`, legend: '{{kind}}' }],
  }),
  timeseries({
    title: 'Heap',
    description: 'V8 heap used and allocated, and external (Buffer) memory, per instance.',
    unit: 'bytes',
    queries: [
      { expr: `nodejs_heap_size_used_bytes{${APP}}`, legend: 'used {{instance}}' },
      { expr: `nodejs_heap_size_total_bytes{${APP}}`, legend: 'total {{instance}}' },
      { expr: `nodejs_external_memory_bytes{${APP}}`, legend: 'external {{instance}}' },
    ],
  }),
  timeseries({
    title: 'Dependency reachability',
    description: `${S.postgresUp.name} and ${S.redisUp.name} per instance over time (1 reachable, 0 not).`,
    unit: 'bool_yes_no',
    min: 0,
    max: 1,
    queries: [
      { expr: `${S.postgresUp.name}{${APP}}`, legend: 'postgres {{instance}}' },
      { expr: `${S.redisUp.name}{${APP}}`, legend: 'redis {{instance}}' },
    ],
  }),
];

export const resources = () =>
  dashboard({
    uid: 'event-service-resources',
    title: 'Event service / Resources (USE)',
    description:
      'CPU, memory, event-loop lag, garbage collection and heap per instance; PostgreSQL and Redis reachability; the Kubernetes view of the pods: memory against the limit, restarts, OOM kills, volume usage.',
    tags: ['use'],
    instanceVariable: true,
    labelVariables: [
      { name: 'namespace', label: 'Namespace', metric: `kube_pod_container_resource_limits{job="${KUBE_STATE_METRICS_JOB}"}` },
    ],
    rows: [{ title: 'Kubernetes', panels: kubernetesPanels() }],
    panels: [...headlineStats(), ...processPanels()],
  });
