/** Prometheus: configuration and rule files as ConfigMaps (rolled on change), a PVC, a retention time and size. */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { ThirdPartyService } from '../config';
import {
  checksumOf,
  childOptions,
  clusterService,
  containerSecurityContext,
  httpProbe,
  labelsFor,
  podSecurityContext,
  resourcesOf,
  selectorFor,
} from './workload';

export const PROMETHEUS_NAME = 'prometheus';
export const PROMETHEUS_PORT = 9090;
export const RULES_MOUNT = '/etc/prometheus/rules';
/** Name of the service account, Role and RoleBinding of Kubernetes discovery. */
export const DISCOVERY_NAME = 'prometheus-discovery';
/** Suffix of the ClusterRole and its binding that let Prometheus find the nodes and read their kubelets' metrics. */
export const KUBELET_METRICS_NAME = 'prometheus-kubelet-metrics';
/** nobody, the image's user. */
const UID = 65534;

export interface PrometheusArgs extends ThirdPartyService {
  namespace: pulumi.Input<string>;
  retention: string;
  /** --storage.tsdb.retention.size (Prometheus units), below `storage`. */
  retentionSize: string;
  storage: string;
  /** prometheus.yml */
  config: string;
  /** rule files by file name */
  rules: Record<string, string>;
  /** The URL people open this Prometheus at: alert and graph links point there. */
  externalUrl: string;
  /** Its pods run as their own account, not the namespace's default: the pull secrets go on it too. */
  imagePullSecrets: string[];
  provider: k8s.Provider;
}

export class Prometheus extends pulumi.ComponentResource {
  constructor(name: string, args: PrometheusArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:monitoring:Prometheus', name, {}, opts);
    const o = () => childOptions(this, args.provider);
    const ns = args.namespace;
    const configData = { 'prometheus.yml': args.config };
    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      { metadata: { name: `${PROMETHEUS_NAME}-config`, namespace: ns, labels: labelsFor(PROMETHEUS_NAME) }, data: configData },
      o(),
    );
    const rules = new k8s.core.v1.ConfigMap(
      `${name}-rules`,
      { metadata: { name: `${PROMETHEUS_NAME}-rules`, namespace: ns, labels: labelsFor(PROMETHEUS_NAME) }, data: args.rules },
      o(),
    );
    const account = this.discoveryAccount(name, ns, args.imagePullSecrets, o);
    const service = clusterService(
      `${name}-service`,
      { name: PROMETHEUS_NAME, namespace: ns, port: PROMETHEUS_PORT, portName: 'http' },
      o(),
    );
    new k8s.apps.v1.StatefulSet(
      `${name}-statefulset`,
      {
        metadata: { name: PROMETHEUS_NAME, namespace: ns, labels: labelsFor(PROMETHEUS_NAME) },
        spec: {
          serviceName: service.metadata.name,
          replicas: 1,
          selector: { matchLabels: selectorFor(PROMETHEUS_NAME) },
          template: {
            metadata: {
              labels: labelsFor(PROMETHEUS_NAME),
              annotations: { 'checksum/config': checksumOf(configData), 'checksum/rules': checksumOf(args.rules) },
            },
            spec: {
              serviceAccountName: account.metadata.name,
              // Kubernetes discovery calls the API with this token.
              automountServiceAccountToken: true,
              securityContext: podSecurityContext(UID),
              containers: [
                {
                  name: 'prometheus',
                  image: args.image,
                  args: [
                    '--config.file=/etc/prometheus/prometheus.yml',
                    '--storage.tsdb.path=/prometheus',
                    `--storage.tsdb.retention.time=${args.retention}`,
                    `--storage.tsdb.retention.size=${args.retentionSize}`,
                    `--web.external-url=${args.externalUrl}`,
                  ],
                  ports: [{ name: 'http', containerPort: PROMETHEUS_PORT }],
                  resources: resourcesOf(args.resources),
                  securityContext: containerSecurityContext,
                  startupProbe: httpProbe('/-/ready', 'http', 5, 60),
                  livenessProbe: httpProbe('/-/healthy', 'http', 15, 4),
                  readinessProbe: httpProbe('/-/ready', 'http', 5, 3),
                  volumeMounts: [
                    { name: 'config', mountPath: '/etc/prometheus/prometheus.yml', subPath: 'prometheus.yml' },
                    { name: 'rules', mountPath: RULES_MOUNT },
                    { name: 'data', mountPath: '/prometheus' },
                  ],
                },
              ],
              volumes: [
                { name: 'config', configMap: { name: config.metadata.name } },
                { name: 'rules', configMap: { name: rules.metadata.name } },
              ],
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: 'data', labels: labelsFor(PROMETHEUS_NAME) },
              spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: args.storage } } },
            },
          ],
        },
      },
      o(),
    );
    this.registerOutputs({});
  }

  /**
   * The service account Prometheus discovers pods with: list/watch pods in its own namespace, nothing else
   * (a namespaced Role, no ClusterRole). Only the Prometheus pod mounts its token.
   */
  private discoveryAccount(
    name: string,
    ns: pulumi.Input<string>,
    pullSecrets: string[],
    o: () => pulumi.CustomResourceOptions,
  ): k8s.core.v1.ServiceAccount {
    const metadata = { name: DISCOVERY_NAME, namespace: ns, labels: labelsFor(PROMETHEUS_NAME) };
    const imagePullSecrets = pullSecrets.length ? pullSecrets.map((s) => ({ name: s })) : undefined;
    const account = new k8s.core.v1.ServiceAccount(
      `${name}-account`,
      { metadata, automountServiceAccountToken: false, imagePullSecrets },
      o(),
    );
    const role = new k8s.rbac.v1.Role(
      `${name}-discovery-role`,
      { metadata, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }] },
      o(),
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-discovery-binding`,
      {
        metadata,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name },
        subjects: [{ kind: 'ServiceAccount', name: account.metadata.name, namespace: ns }],
      },
      o(),
    );
    this.kubeletAccess(name, ns, account, o);
    return account;
  }

  /**
   * The kubelets' metrics (volume statistics, cAdvisor): nodes are cluster-scoped, so a ClusterRole, and the
   * least one that works: find the nodes (list/watch) and read their metrics endpoints (`nodes/metrics`, not the
   * `nodes/proxy` that also reaches exec and logs). Named after the namespace: several stacks share a cluster.
   */
  private kubeletAccess(
    name: string,
    ns: pulumi.Input<string>,
    account: k8s.core.v1.ServiceAccount,
    o: () => pulumi.CustomResourceOptions,
  ) {
    const metadata = { name: pulumi.interpolate`${ns}-${KUBELET_METRICS_NAME}`, labels: labelsFor(PROMETHEUS_NAME) };
    const role = new k8s.rbac.v1.ClusterRole(
      `${name}-kubelet-role`,
      {
        metadata,
        rules: [
          { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
          { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
        ],
      },
      o(),
    );
    new k8s.rbac.v1.ClusterRoleBinding(
      `${name}-kubelet-binding`,
      {
        metadata,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name },
        subjects: [{ kind: 'ServiceAccount', name: account.metadata.name, namespace: ns }],
      },
      o(),
    );
  }
}
