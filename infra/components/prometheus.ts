/** Prometheus: configuration and rule files as ConfigMaps (rolled on change), a PVC, a retention time and size. */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { ThirdPartyService } from '../config';
import type { KubernetesComponentOptions } from './options';
import { dataClaimSpec, mountedConfigMap, objectMetadata, workloadSpec, type WorkloadContainer } from './pod';
import { clusterService, grantToAccount, httpProbe, labelsFor } from './workload';

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
}

export class Prometheus extends pulumi.ComponentResource {
  constructor(name: string, args: PrometheusArgs, opts: KubernetesComponentOptions) {
    super('event-stack:monitoring:Prometheus', name, {}, opts);
    const ns = args.namespace;
    const workload = { name: PROMETHEUS_NAME, namespace: ns };
    const config = mountedConfigMap(name, workload, 'config', { 'prometheus.yml': args.config }, { parent: this });
    const rules = mountedConfigMap(name, workload, 'rules', args.rules, { parent: this });
    const account = this.discoveryAccount(name, ns, args.imagePullSecrets);
    const service = clusterService(
      `${name}-service`,
      { name: PROMETHEUS_NAME, namespace: ns, port: PROMETHEUS_PORT, portName: 'http' },
      { parent: this },
    );
    new k8s.apps.v1.StatefulSet(
      `${name}-statefulset`,
      {
        metadata: objectMetadata(PROMETHEUS_NAME, ns),
        spec: {
          serviceName: service.metadata.name,
          replicas: 1,
          ...workloadSpec({
            name: PROMETHEUS_NAME,
            uid: UID,
            annotations: { ...config.annotations, ...rules.annotations },
            // Kubernetes discovery calls the API with this account's token.
            apiAccount: account.metadata.name,
            container: prometheusContainer(args),
            volumes: [
              { name: 'config', configMap: { name: config.name } },
              { name: 'rules', configMap: { name: rules.name } },
            ],
          }),
          volumeClaimTemplates: [{ metadata: { name: 'data', labels: labelsFor(PROMETHEUS_NAME) }, spec: dataClaimSpec(args.storage) }],
        },
      },
      { parent: this },
    );
    this.registerOutputs({});
  }

  /**
   * The service account Prometheus discovers pods with: list/watch pods in its own namespace, nothing else
   * (a namespaced Role, no ClusterRole). Only the Prometheus pod mounts its token.
   */
  private discoveryAccount(name: string, ns: pulumi.Input<string>, pullSecrets: string[]): k8s.core.v1.ServiceAccount {
    const metadata = objectMetadata(PROMETHEUS_NAME, ns, DISCOVERY_NAME);
    const imagePullSecrets = pullSecrets.length ? pullSecrets.map((s) => ({ name: s })) : undefined;
    const account = new k8s.core.v1.ServiceAccount(
      `${name}-account`,
      { metadata, automountServiceAccountToken: false, imagePullSecrets },
      { parent: this },
    );
    const subject = { name: account.metadata.name, namespace: ns };
    const rules = [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }];
    grantToAccount(`${name}-discovery`, { kind: 'Role', metadata, rules, account: subject }, { parent: this });
    this.kubeletAccess(name, ns, subject);
    return account;
  }

  /**
   * The kubelets' metrics (volume statistics, cAdvisor): nodes are cluster-scoped, so a ClusterRole, and the
   * least one that works: find the nodes (list/watch) and read their metrics endpoints (`nodes/metrics`, not the
   * `nodes/proxy` that also reaches exec and logs). Named after the namespace: several stacks share a cluster.
   */
  private kubeletAccess(name: string, ns: pulumi.Input<string>, account: { name: pulumi.Output<string>; namespace: pulumi.Input<string> }) {
    const metadata = { name: pulumi.interpolate`${ns}-${KUBELET_METRICS_NAME}`, labels: labelsFor(PROMETHEUS_NAME) };
    const rules = [
      { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
    ];
    grantToAccount(`${name}-kubelet`, { kind: 'ClusterRole', metadata, rules, account }, { parent: this });
  }
}

/** Its configuration, rules and data directories, retention by time and by size, and where people open it. */
function prometheusContainer(args: PrometheusArgs): WorkloadContainer {
  return {
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
    resources: args.resources,
    startupProbe: httpProbe('/-/ready', 'http', 5, 60),
    livenessProbe: httpProbe('/-/healthy', 'http', 15, 4),
    readinessProbe: httpProbe('/-/ready', 'http', 5, 3),
    volumeMounts: [
      { name: 'config', mountPath: '/etc/prometheus/prometheus.yml', subPath: 'prometheus.yml' },
      { name: 'rules', mountPath: RULES_MOUNT },
      { name: 'data', mountPath: '/prometheus' },
    ],
  };
}
