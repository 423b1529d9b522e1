/**
 * kube-state-metrics for bundled monitoring: the state of the stack's own objects (pods and their containers,
 * Deployments, HorizontalPodAutoscalers, CronJobs) for the Kubernetes alerts and the Resources dashboard.
 * Least privilege: it watches only the stack's namespace (`--namespaces`), so a namespaced Role with list/watch
 * on exactly the resources it exports is enough (no ClusterRole), and it exports only the metrics the rules and
 * dashboards read (CLUSTER_METRICS, `--metric-allowlist`).
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { ThirdPartyService } from '../config';
import { CLUSTER_METRICS, CNPG_CLUSTER_GVK, cnpgClusterStateConfigYaml, KUBE_STATE_METRICS_JOB } from '../../monitoring/src';
import {
  childOptions,
  clusterService,
  containerSecurityContext,
  httpProbe,
  labelsFor,
  podSecurityContext,
  resourcesOf,
  selectorFor,
} from './workload';

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
  provider: k8s.Provider;
  /**
   * The stack runs its database on CloudNativePG: also export the Cluster's desired and ready instances (its
   * CustomResourceState configuration, monitoring/src/cnpg-cluster-state.ts), for EventPostgresInstancesNotReady.
   */
  cnpgClusters?: boolean;
}

/** Names the ClusterRole that lets kube-state-metrics discover CRDs (its custom resource support needs it). */
export const KUBE_STATE_METRICS_CRD_ACCESS = 'kube-state-metrics-crds';

export class KubeStateMetrics extends pulumi.ComponentResource {
  constructor(name: string, args: KubeStateMetricsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:monitoring:KubeStateMetrics', name, {}, opts);
    const o = () => childOptions(this, args.provider);
    const ns = args.namespace;
    const metadata = { name: KUBE_STATE_METRICS_NAME, namespace: ns, labels: labelsFor(KUBE_STATE_METRICS_NAME) };
    const account = new k8s.core.v1.ServiceAccount(`${name}-account`, { metadata, automountServiceAccountToken: false }, o());
    const byGroup = new Map<string, string[]>();
    for (const { apiGroup, resource } of Object.values(KUBE_STATE_METRICS_RESOURCES))
      byGroup.set(apiGroup, [...(byGroup.get(apiGroup) ?? []), resource]);
    if (args.cnpgClusters) {
      byGroup.set(CNPG_CLUSTER_GVK.group, ['clusters']);
      this.crdDiscovery(name, ns, account, o);
    }
    const role = new k8s.rbac.v1.Role(
      `${name}-role`,
      { metadata, rules: [...byGroup].map(([group, resources]) => ({ apiGroups: [group], resources, verbs: ['list', 'watch'] })) },
      o(),
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-binding`,
      {
        metadata,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name },
        subjects: [{ kind: 'ServiceAccount', name: account.metadata.name, namespace: ns }],
      },
      o(),
    );
    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata,
        spec: {
          replicas: 1,
          selector: { matchLabels: selectorFor(KUBE_STATE_METRICS_NAME) },
          template: {
            metadata: { labels: labelsFor(KUBE_STATE_METRICS_NAME) },
            spec: {
              serviceAccountName: account.metadata.name,
              // It lists and watches through the API with this token.
              automountServiceAccountToken: true,
              securityContext: podSecurityContext(UID),
              containers: [
                {
                  name: 'kube-state-metrics',
                  image: args.image,
                  args: pulumi.output(ns).apply((namespace) => [
                    `--namespaces=${namespace}`,
                    `--resources=${Object.keys(KUBE_STATE_METRICS_RESOURCES).join(',')}`,
                    `--metric-allowlist=${Object.keys(CLUSTER_METRICS[KUBE_STATE_METRICS_JOB]).join(',')}`,
                    `--port=${KUBE_STATE_METRICS_PORT}`,
                    `--telemetry-port=${TELEMETRY_PORT}`,
                    // inline, so that a change to it rolls the pod
                    ...(args.cnpgClusters ? ['--custom-resource-state-config', cnpgClusterStateConfigYaml()] : []),
                  ]),
                  ports: [
                    { name: 'http', containerPort: KUBE_STATE_METRICS_PORT },
                    { name: 'telemetry', containerPort: TELEMETRY_PORT },
                  ],
                  resources: resourcesOf(args.resources),
                  securityContext: containerSecurityContext,
                  livenessProbe: httpProbe('/livez', 'http', 20, 3),
                  readinessProbe: httpProbe('/readyz', 'telemetry', 10, 2),
                },
              ],
            },
          },
        },
      },
      o(),
    );
    clusterService(
      `${name}-service`,
      { name: KUBE_STATE_METRICS_NAME, namespace: ns, port: KUBE_STATE_METRICS_PORT, portName: 'http' },
      o(),
    );
    this.registerOutputs({});
  }

  /**
   * kube-state-metrics finds the custom resources it exports by watching the CRDs (cluster-scoped, so a
   * ClusterRole); without it, it never starts exporting them. Read-only, and CRDs hold schemas, no data.
   * Named after the namespace: several stacks share a cluster.
   */
  private crdDiscovery(name: string, ns: pulumi.Input<string>, account: k8s.core.v1.ServiceAccount, o: () => pulumi.CustomResourceOptions) {
    const metadata = { name: pulumi.interpolate`${ns}-${KUBE_STATE_METRICS_CRD_ACCESS}`, labels: labelsFor(KUBE_STATE_METRICS_NAME) };
    const role = new k8s.rbac.v1.ClusterRole(
      `${name}-crd-role`,
      { metadata, rules: [{ apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], verbs: ['list', 'watch'] }] },
      o(),
    );
    new k8s.rbac.v1.ClusterRoleBinding(
      `${name}-crd-binding`,
      {
        metadata,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name },
        subjects: [{ kind: 'ServiceAccount', name: account.metadata.name, namespace: ns }],
      },
      o(),
    );
  }
}
