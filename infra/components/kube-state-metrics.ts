/**
 * kube-state-metrics for bundled monitoring: the state of the stack's own objects (pods and their containers,
 * Deployments, HorizontalPodAutoscalers, CronJobs) for the Kubernetes alerts and the Resources dashboard.
 * Least privilege: it watches only the stack's namespace (`--namespaces`), so a namespaced Role with list/watch
 * on exactly the resources it exports is enough (a ClusterRole only to discover CRDs, read-only, when it exports the CloudNativePG Cluster), and it exports only the metrics the rules and
 * dashboards read (CLUSTER_METRICS, `--metric-allowlist`).
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { ThirdPartyService } from '../config';
import { CLUSTER_METRICS, CNPG_CLUSTER_GVK, cnpgClusterStateConfigYaml, KUBE_STATE_METRICS_JOB } from '../../monitoring/src';
import type { KubernetesComponentOptions } from './options';
import { objectMetadata, singleReplicaWorkload } from './pod';
import { grantToAccount, httpProbe, labelsFor } from './workload';

/** Workload, Service, account and Role name: the scrape job name of the monitoring contract. */
export const KUBE_STATE_METRICS_NAME = KUBE_STATE_METRICS_JOB;
export const KUBE_STATE_METRICS_PORT = 8080;
/** Its own metrics (/metrics of the exporter itself) and /readyz. */
const TELEMETRY_PORT = 8081;
const UID = 65534;

/** kube-state-metrics' collector names and the API resources each lists and watches. */
export const KUBE_STATE_METRICS_RESOURCES = {
  pods: { apiGroup: '', resource: 'pods' },
  deployments: { apiGroup: 'apps', resource: 'deployments' },
  horizontalpodautoscalers: { apiGroup: 'autoscaling', resource: 'horizontalpodautoscalers' },
  cronjobs: { apiGroup: 'batch', resource: 'cronjobs' },
} as const;

export interface KubeStateMetricsArgs extends ThirdPartyService {
  namespace: pulumi.Input<string>;
  /**
   * The stack runs its database on CloudNativePG: also export the Cluster's desired and ready instances (its
   * CustomResourceState configuration, monitoring/src/cnpg-cluster-state.ts), for EventPostgresInstancesNotReady.
   */
  cnpgClusters?: boolean;
}

/** Names the ClusterRole that lets kube-state-metrics discover CRDs (its custom resource support needs it). */
export const KUBE_STATE_METRICS_CRD_ACCESS = 'kube-state-metrics-crds';

export class KubeStateMetrics extends pulumi.ComponentResource {
  constructor(name: string, args: KubeStateMetricsArgs, opts: KubernetesComponentOptions) {
    super('event-stack:monitoring:KubeStateMetrics', name, {}, opts);
    const account = this.watchingAccount(name, args.namespace, args.cnpgClusters ?? false);
    singleReplicaWorkload(
      name,
      {
        name: KUBE_STATE_METRICS_NAME,
        namespace: args.namespace,
        servicePort: 'http',
        uid: UID,
        // It lists and watches through the API with this account's token.
        apiAccount: account.metadata.name,
        container: {
          name: 'kube-state-metrics',
          image: args.image,
          args: pulumi.output(args.namespace).apply((ns) => exporterArgs(ns, args.cnpgClusters ?? false)),
          ports: [
            { name: 'http', containerPort: KUBE_STATE_METRICS_PORT },
            { name: 'telemetry', containerPort: TELEMETRY_PORT },
          ],
          resources: args.resources,
          livenessProbe: httpProbe('/livez', 'http', 20, 3),
          readinessProbe: httpProbe('/readyz', 'telemetry', 10, 2),
        },
      },
      { parent: this },
    );
    this.registerOutputs({});
  }

  /** Its service account, allowed by a namespaced Role to list and watch exactly the resources it exports. */
  private watchingAccount(name: string, ns: pulumi.Input<string>, cnpgClusters: boolean): k8s.core.v1.ServiceAccount {
    const metadata = objectMetadata(KUBE_STATE_METRICS_NAME, ns);
    const account = new k8s.core.v1.ServiceAccount(`${name}-account`, { metadata, automountServiceAccountToken: false }, { parent: this });
    const byGroup = new Map<string, string[]>();
    for (const { apiGroup, resource } of Object.values(KUBE_STATE_METRICS_RESOURCES))
      byGroup.set(apiGroup, [...(byGroup.get(apiGroup) ?? []), resource]);
    if (cnpgClusters) {
      byGroup.set(CNPG_CLUSTER_GVK.group, ['clusters']);
      this.crdDiscovery(name, ns, account);
    }
    const rules = [...byGroup].map(([group, resources]) => ({ apiGroups: [group], resources, verbs: ['list', 'watch'] }));
    grantToAccount(name, { kind: 'Role', metadata, rules, account: { name: account.metadata.name, namespace: ns } }, { parent: this });
    return account;
  }

  /**
   * kube-state-metrics finds the custom resources it exports by watching the CRDs (cluster-scoped, so a
   * ClusterRole); without it, it never starts exporting them. Read-only, and CRDs hold schemas, no data.
   * Named after the namespace: several stacks share a cluster.
   */
  private crdDiscovery(name: string, ns: pulumi.Input<string>, account: k8s.core.v1.ServiceAccount): void {
    const metadata = { name: pulumi.interpolate`${ns}-${KUBE_STATE_METRICS_CRD_ACCESS}`, labels: labelsFor(KUBE_STATE_METRICS_NAME) };
    const rules = [{ apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], verbs: ['list', 'watch'] }];
    grantToAccount(
      `${name}-crd`,
      { kind: 'ClusterRole', metadata, rules, account: { name: account.metadata.name, namespace: ns } },
      { parent: this },
    );
  }
}

/** Only the stack's namespace, only the collectors of the watched resources, only the metrics the rules and dashboards read. */
function exporterArgs(namespace: string, cnpgClusters: boolean): string[] {
  return [
    `--namespaces=${namespace}`,
    `--resources=${Object.keys(KUBE_STATE_METRICS_RESOURCES).join(',')}`,
    `--metric-allowlist=${Object.keys(CLUSTER_METRICS[KUBE_STATE_METRICS_JOB]).join(',')}`,
    `--port=${KUBE_STATE_METRICS_PORT}`,
    `--telemetry-port=${TELEMETRY_PORT}`,
    // inline, so that a change to it rolls the pod
    ...(cnpgClusters ? ['--custom-resource-state-config', cnpgClusterStateConfigYaml()] : []),
  ];
}
