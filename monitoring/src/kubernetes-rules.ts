/**
 * The cluster's own signals about the stack's workloads: alerts on kube-state-metrics, the kubelet (volume
 * statistics) and cAdvisor, modelled on kubernetes-mixin's apps, storage and resource alerts, and on Prometheus'
 * own storage against its size retention. Rendered to alerts/rules/kubernetes.yml like the other rule files.
 *
 * Scoping: in bundled mode the stack's kube-state-metrics watches only the stack's namespace, and the kubelet
 * scrape keeps only that namespace's series, so the committed file needs no namespace matcher. In operator mode
 * the cluster's exporters see every namespace: the program renders this file again with the stack's namespace
 * (kubernetes-mixin's `namespaceSelector`), see kubernetesRuleFile(namespace).
 */
import { CNPG_CLUSTER_STATE_LABELS, CNPG_CLUSTER_STATE_METRICS } from './cnpg-cluster-state';
import { PROMETHEUS_JOB } from './contract';
import type { AlertRule, RuleFile } from './rules';

/** Job labels of the cluster's exporters; kube-prometheus-stack uses the same ones, so the rules read both modes alike. */
export const KUBE_STATE_METRICS_JOB = 'kube-state-metrics';
export const KUBELET_JOB = 'kubelet';
/** Jobs whose programs run only in a cluster: their metrics are proven on synthetic series, not scraped here. */
export const CLUSTER_JOBS: readonly string[] = [KUBE_STATE_METRICS_JOB, KUBELET_JOB];

/**
 * The metrics of kube-state-metrics (v2), the kubelet and cAdvisor that the rules and the Kubernetes dashboard
 * row read, with the labels those programs give them. Their names are theirs; the synthetic series of
 * dashboards/test carry exactly these, and the tests hold every cluster reference to this list.
 */
export const CLUSTER_METRICS = {
  [KUBE_STATE_METRICS_JOB]: {
    kube_pod_container_status_restarts_total: ['namespace', 'pod', 'container'],
    kube_pod_container_status_waiting_reason: ['namespace', 'pod', 'container', 'reason'],
    kube_pod_container_status_last_terminated_reason: ['namespace', 'pod', 'container', 'reason'],
    kube_pod_container_resource_limits: ['namespace', 'pod', 'container', 'resource', 'unit'],
    kube_deployment_spec_replicas: ['namespace', 'deployment'],
    kube_deployment_status_replicas_available: ['namespace', 'deployment'],
    kube_deployment_status_replicas_updated: ['namespace', 'deployment'],
    kube_horizontalpodautoscaler_spec_max_replicas: ['namespace', 'horizontalpodautoscaler'],
    kube_horizontalpodautoscaler_spec_min_replicas: ['namespace', 'horizontalpodautoscaler'],
    kube_horizontalpodautoscaler_status_current_replicas: ['namespace', 'horizontalpodautoscaler'],
    kube_cronjob_status_last_schedule_time: ['namespace', 'cronjob'],
    kube_cronjob_status_last_successful_time: ['namespace', 'cronjob'],
    kube_cronjob_status_active: ['namespace', 'cronjob'],
    kube_cronjob_next_schedule_time: ['namespace', 'cronjob'],
    kube_cronjob_spec_suspend: ['namespace', 'cronjob'],
    [CNPG_CLUSTER_STATE_METRICS.desiredInstances]: CNPG_CLUSTER_STATE_LABELS,
    [CNPG_CLUSTER_STATE_METRICS.readyInstances]: CNPG_CLUSTER_STATE_LABELS,
  },
  [KUBELET_JOB]: {
    kubelet_volume_stats_available_bytes: ['namespace', 'persistentvolumeclaim'],
    kubelet_volume_stats_capacity_bytes: ['namespace', 'persistentvolumeclaim'],
    container_memory_working_set_bytes: ['namespace', 'pod', 'container', 'image'],
  },
} as const satisfies Record<string, Record<string, readonly string[]>>;

/**
 * Prometheus' own storage metrics (it exports them; the end-to-end test scrapes them). The WAL and head-chunk
 * sizes that retention.size also counts are not exported by every version (Debian's 2.42 has neither), so the
 * threshold on the blocks alone leaves them room.
 */
export const TSDB_METRICS = {
  blocks: 'prometheus_tsdb_storage_blocks_bytes',
  retentionLimit: 'prometheus_tsdb_retention_limit_bytes',
} as const;

/** Thresholds of the Kubernetes alerts. */
export const KUBERNETES_THRESHOLDS = {
  /** Container restarts in an hour that open a ticket even without a crash loop. */
  restartsPerHour: 3,
  /** Used share of a volume that opens a ticket. */
  volumeUsed: 0.85,
  /** A volume predicted full within this many hours (from the last 6 h) pages, once it is at least half full. */
  volumeFullWithinHours: 24,
  volumeTrendWindow: '6h',
  /** Share of Prometheus' retention size its blocks may reach (the WAL and head chunks take the rest) before the ticket. */
  tsdbRetentionSize: 0.8,
  /** A CronJob's next run this late counts as not run: the stack's startingDeadlineSeconds (infra cronJobPolicy). */
  cronJobLateSeconds: 3600,
} as const;

const KIND = {
  ksm: KUBE_STATE_METRICS_JOB,
  kubelet: KUBELET_JOB,
} as const;

/** A selector of a cluster exporter's metric, with the namespace matcher when one is given. */
function selector(namespace: string | undefined) {
  return (kind: keyof typeof KIND, metric: string, ...matchers: string[]) =>
    `${metric}{${[`job="${KIND[kind]}"`, ...(namespace ? [`namespace="${namespace}"`] : []), ...matchers].join(',')}}`;
}

/** Containers killed for memory, crash looping or restarting. */
function containerRules(namespace: string | undefined): AlertRule[] {
  const s = selector(namespace);
  const t = KUBERNETES_THRESHOLDS;
  const container = 'on (namespace, pod, container)';
  return [
    {
      comment: [
        'A restart in the last 10 minutes whose last termination was the kernel OOM killer: the container hit its',
        'memory limit. kube-state-metrics keeps the last reason until the next termination, hence the restart window.',
      ].join('\n'),
      alert: 'EventStackContainerOOMKilled',
      expr: [
        `increase(${s('ksm', 'kube_pod_container_status_restarts_total')}[10m]) >= 1`,
        `and ${container}`,
        `${s('ksm', 'kube_pod_container_status_last_terminated_reason', 'reason="OOMKilled"')} == 1`,
        '',
      ].join('\n'),
      for: '0m',
      severity: 'warning',
      summary: 'A container was killed for exceeding its memory limit.',
      description:
        'Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} was OOMKilled and restarted in the last 10 minutes: its memory limit is too low for its load.',
    },
    {
      comment: 'kubernetes-mixin KubePodCrashLooping: max_over_time keeps the alert through the short running spells between back-offs.',
      alert: 'EventStackPodCrashLooping',
      expr: `max_over_time(${s('ksm', 'kube_pod_container_status_waiting_reason', 'reason="CrashLoopBackOff"')}[5m]) >= 1`,
      for: '15m',
      severity: 'warning',
      summary: 'A container is crash looping.',
      description:
        'Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} has been waiting in CrashLoopBackOff for 15 minutes.',
    },
    {
      comment: 'Restarts that never reach a back-off (a failing liveness probe, an exit soon after start) show only here.',
      alert: 'EventStackContainerRestarting',
      expr: `increase(${s('ksm', 'kube_pod_container_status_restarts_total')}[1h]) > ${t.restartsPerHour}`,
      for: '0m',
      severity: 'warning',
      summary: `A container restarted more than ${t.restartsPerHour} times in an hour.`,
      description:
        'Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} restarted {{ $value | humanize }} times in the last hour.',
    },
  ];
}

/** Deployments short of replicas, and autoscalers that cannot add any. */
function scalingRules(namespace: string | undefined): AlertRule[] {
  const s = selector(namespace);
  return [
    {
      comment: 'kubernetes-mixin KubeDeploymentReplicasMismatch: fewer available replicas than wanted, and no rollout progressing.',
      alert: 'EventStackDeploymentReplicasMismatch',
      expr: [
        `${s('ksm', 'kube_deployment_spec_replicas')}`,
        `  > ${s('ksm', 'kube_deployment_status_replicas_available')}`,
        `and on (namespace, deployment)`,
        `changes(${s('ksm', 'kube_deployment_status_replicas_updated')}[10m]) == 0`,
        '',
      ].join('\n'),
      for: '15m',
      severity: 'warning',
      summary: 'A Deployment has had fewer available replicas than it wants for 15 minutes.',
      description:
        'Deployment {{ $labels.namespace }}/{{ $labels.deployment }} wants {{ $value }} replicas and has had fewer available for 15 minutes, with no rollout in progress.',
    },
    {
      comment: [
        'kubernetes-mixin KubeHpaMaxedOut: at its maximum the HPA cannot add capacity, so more load turns into latency',
        'and backpressure. An HPA whose minimum is its maximum is no autoscaler and is left out.',
      ].join('\n'),
      alert: 'EventStackHpaMaxedOut',
      expr: [
        `${s('ksm', 'kube_horizontalpodautoscaler_status_current_replicas')}`,
        `  == ${s('ksm', 'kube_horizontalpodautoscaler_spec_max_replicas')}`,
        'and on (namespace, horizontalpodautoscaler)',
        `${s('ksm', 'kube_horizontalpodautoscaler_spec_max_replicas')}`,
        `  != ${s('ksm', 'kube_horizontalpodautoscaler_spec_min_replicas')}`,
        '',
      ].join('\n'),
      for: '15m',
      severity: 'warning',
      summary: 'A HorizontalPodAutoscaler has run at its maximum replicas for 15 minutes.',
      description:
        'HPA {{ $labels.namespace }}/{{ $labels.horizontalpodautoscaler }} has run {{ $value }} replicas, its maximum, for 15 minutes: it cannot scale out further.',
    },
  ];
}

/** CronJobs whose run failed or never started. */
function cronJobRules(namespace: string | undefined): AlertRule[] {
  const s = selector(namespace);
  const t = KUBERNETES_THRESHOLDS;
  const cronjob = 'on (namespace, cronjob)';
  return [
    {
      comment: [
        'The last scheduled run has not succeeded and nothing runs any more: the Job failed (its retries spent).',
        'A CronJob that never succeeded has no last-successful time: the `unless` branch covers it.',
      ].join('\n'),
      alert: 'EventStackCronJobFailed',
      expr: [
        '(',
        `  ${s('ksm', 'kube_cronjob_status_last_schedule_time')}`,
        `    > ${s('ksm', 'kube_cronjob_status_last_successful_time')}`,
        '  or',
        `  ${s('ksm', 'kube_cronjob_status_last_schedule_time')}`,
        `    unless ${cronjob} ${s('ksm', 'kube_cronjob_status_last_successful_time')}`,
        ')',
        `and ${cronjob}`,
        `${s('ksm', 'kube_cronjob_status_active')} == 0`,
        '',
      ].join('\n'),
      for: '5m',
      severity: 'warning',
      summary: 'The last run of a CronJob failed.',
      description:
        'The run of CronJob {{ $labels.namespace }}/{{ $labels.cronjob }} scheduled at {{ $value | humanizeTimestamp }} did not succeed and no run is active.',
    },
    {
      comment: [
        `The next run is due more than ${t.cronJobLateSeconds / 3600} h ago (the stack's startingDeadlineSeconds): the controller skipped it`,
        '(a missed deadline, a full namespace quota) and kube-state-metrics still computes the next run from the last one.',
      ].join('\n'),
      alert: 'EventStackCronJobNotScheduled',
      expr: [
        `time() - ${s('ksm', 'kube_cronjob_next_schedule_time')} > ${t.cronJobLateSeconds}`,
        `and ${cronjob}`,
        `${s('ksm', 'kube_cronjob_spec_suspend')} == 0`,
        '',
      ].join('\n'),
      for: '10m',
      severity: 'warning',
      summary: 'A CronJob did not start a run it was due to start.',
      description:
        'CronJob {{ $labels.namespace }}/{{ $labels.cronjob }} was due {{ $value | humanizeDuration }} ago and has not started; it is not suspended.',
    },
  ];
}

function volumeRules(namespace: string | undefined): AlertRule[] {
  const s = selector(namespace);
  const t = KUBERNETES_THRESHOLDS;
  const available = s('kubelet', 'kubelet_volume_stats_available_bytes');
  const capacity = s('kubelet', 'kubelet_volume_stats_capacity_bytes');
  return [
    {
      comment: [
        `kubernetes-mixin KubePersistentVolumeFillingUp: the free space of the last ${t.volumeTrendWindow}, extrapolated, runs out within`,
        `${t.volumeFullWithinHours} h. Only a volume at least half full: a young volume's first writes are no trend.`,
      ].join('\n'),
      alert: 'EventStackVolumeFillingUp',
      expr: [
        `${available} / ${capacity} < 0.5`,
        'and',
        `predict_linear(${available}[${t.volumeTrendWindow}], ${t.volumeFullWithinHours} * 3600) < 0`,
        '',
      ].join('\n'),
      for: '1h',
      severity: 'critical',
      summary: `A persistent volume is predicted to fill up within ${t.volumeFullWithinHours} hours.`,
      description: `Volume {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} has {{ $value | humanizePercentage }} free and, at the rate of the last ${t.volumeTrendWindow}, fills up within ${t.volumeFullWithinHours} hours.`,
    },
    {
      alert: 'EventStackVolumeAlmostFull',
      expr: `1 - ${available} / ${capacity} > ${t.volumeUsed}`,
      for: '5m',
      severity: 'warning',
      summary: `A persistent volume is more than ${t.volumeUsed * 100}% full.`,
      description: 'Volume {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} is {{ $value | humanizePercentage }} full.',
    },
  ];
}

function tsdbRules(): AlertRule[] {
  const m = TSDB_METRICS;
  const own = (metric: string) => `${metric}{job="${PROMETHEUS_JOB}"}`;
  return [
    {
      comment: [
        'Past retention.size (blocks, WAL and head chunks) Prometheus deletes its oldest blocks before retention.time:',
        'the 30-day SLO window and the burn-rate history get shorter without anyone deciding it.',
      ].join('\n'),
      alert: 'EventPrometheusStorageNearRetentionSize',
      expr: [
        `${own(m.blocks)} / ${own(m.retentionLimit)} > ${KUBERNETES_THRESHOLDS.tsdbRetentionSize}`,
        `and ${own(m.retentionLimit)} > 0`,
        '',
      ].join('\n'),
      for: '1h',
      severity: 'warning',
      summary: 'Prometheus storage is close to its size retention, so old data will go before the retention time.',
      description:
        'The blocks of Prometheus {{ $labels.instance }} take {{ $value | humanizePercentage }} of its retention size: its oldest data will soon be deleted before the retention time ends.',
    },
  ];
}

/** The Kubernetes rule file; `namespace` scopes every cluster selector (operator mode), the committed file has none. */
/**
 * CloudNativePG exports no desired instance count: kube-state-metrics reads spec.instances and status.readyInstances
 * of the Cluster (cnpg-cluster-state.ts). Here, not in the database rules, because it reads kube-state-metrics and
 * must be scoped to the stack's namespace in operator mode like the other rules of this file.
 */
function databaseClusterRules(namespace: string | undefined): AlertRule[] {
  const s = selector(namespace);
  const byCluster = 'max by (namespace, cluster)';
  return [
    {
      comment: 'Also catches instances that never start (no pod, Pending, no volume), which no instance manager reports.',
      alert: 'EventPostgresInstancesNotReady',
      expr: `${byCluster} (${s('ksm', CNPG_CLUSTER_STATE_METRICS.readyInstances)}) < ${byCluster} (${s('ksm', CNPG_CLUSTER_STATE_METRICS.desiredInstances)})`,
      for: '10m',
      severity: 'warning',
      summary: 'The database cluster has had fewer ready instances than desired for 10 minutes.',
      description: 'Cluster {{ $labels.cluster }} has {{ $value }} ready instances, fewer than its spec.instances, for 10 minutes.',
    },
  ];
}

export function kubernetesRuleFile(namespace?: string): RuleFile {
  return {
    name: 'kubernetes',
    header: [
      `The cluster's own signals about the stack's workloads: kube-state-metrics (job "${KUBE_STATE_METRICS_JOB}") and the kubelet`,
      `with its cAdvisor (job "${KUBELET_JOB}"), as kubernetes-mixin reads them; and Prometheus' storage against its size retention.`,
      namespace
        ? `Scoped to namespace ${namespace} (operator mode: the cluster's exporters see every namespace).`
        : "Unscoped: in bundled mode the stack's exporters and scrapes see only the stack's namespace.",
    ].join('\n'),
    groups: [
      {
        name: 'event-stack-kubernetes',
        rules: [
          ...containerRules(namespace),
          ...scalingRules(namespace),
          ...cronJobRules(namespace),
          ...volumeRules(namespace),
          ...databaseClusterRules(namespace),
        ],
      },
      { name: 'event-stack-prometheus-storage', rules: tsdbRules() },
    ],
  };
}
