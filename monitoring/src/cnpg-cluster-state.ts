/**
 * CloudNativePG exports no desired instance count, so "fewer ready instances than desired" cannot be read from its
 * instance managers (an instance that never started has none). kube-state-metrics reads both numbers from the
 * `Cluster` objects instead, by its CustomResourceState configuration rendered here: the bundled kube-state-metrics
 * gets it as `--custom-resource-state-config` (infra/components/kube-state-metrics.ts). A metric's name is
 * `<metricNamePrefix>_<name>` (kube-state-metrics v2.13, docs/metrics/extend/customresourcestate-metrics.md).
 */
import YAML from 'yaml';

export const CNPG_CLUSTER_GVK = { group: 'postgresql.cnpg.io', version: 'v1', kind: 'Cluster' } as const;
/** kube-state-metrics' own default, set explicitly so that the names cannot move under us. */
const METRIC_NAME_PREFIX = 'kube_customresource';

/** Each metric: its name after the prefix, the field of the Cluster it reads, its help. */
export const CNPG_CLUSTER_STATE = {
  desiredInstances: {
    name: 'cnpg_cluster_spec_instances',
    path: ['spec', 'instances'],
    help: 'Instances the CloudNativePG Cluster should run (spec.instances).',
  },
  readyInstances: {
    name: 'cnpg_cluster_status_ready_instances',
    path: ['status', 'readyInstances'],
    help: 'Instances of the CloudNativePG Cluster that are ready (status.readyInstances; absent counts as 0).',
  },
} as const;

/** The names the rules read (job KUBE_STATE_METRICS_JOB), with the labels the configuration gives them. */
export const CNPG_CLUSTER_STATE_METRICS = {
  desiredInstances: `${METRIC_NAME_PREFIX}_${CNPG_CLUSTER_STATE.desiredInstances.name}`,
  readyInstances: `${METRIC_NAME_PREFIX}_${CNPG_CLUSTER_STATE.readyInstances.name}`,
} as const;
export const CNPG_CLUSTER_STATE_LABELS = ['namespace', 'cluster'] as const;

/** The kube-state-metrics CustomResourceState configuration (kind CustomResourceStateMetrics). */
export function cnpgClusterStateConfig() {
  return {
    kind: 'CustomResourceStateMetrics',
    spec: {
      resources: [
        {
          groupVersionKind: CNPG_CLUSTER_GVK,
          metricNamePrefix: METRIC_NAME_PREFIX,
          labelsFromPath: { namespace: ['metadata', 'namespace'], cluster: ['metadata', 'name'] },
          metrics: Object.values(CNPG_CLUSTER_STATE).map((m) => ({
            name: m.name,
            help: m.help,
            // A Cluster with no ready instance may omit status.readyInstances: 0, not a missing series.
            each: { type: 'Gauge', gauge: { path: [...m.path], nilIsZero: true } },
          })),
        },
      ],
    },
  };
}

/** The configuration as kube-state-metrics reads it (the value of `--custom-resource-state-config`). */
export function cnpgClusterStateConfigYaml(): string {
  return YAML.stringify(cnpgClusterStateConfig(), { collectionStyle: 'block', lineWidth: 0 });
}
