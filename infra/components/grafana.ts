/** Grafana: provisioned Prometheus datasource, the repository's dashboards, generated admin password, no anonymous access. */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { ThirdPartyService, TlsSetting } from '../config';
import type { KubernetesComponentOptions } from './options';
import { claimedDataVolume, mountedConfigMap, objectMetadata, ONE_POD_AT_A_TIME, singleReplicaWorkload } from './pod';
import { hostIngress } from './ingress';
import { httpProbe } from './workload';

export const GRAFANA_NAME = 'grafana';
export const GRAFANA_PORT = 3000;
export const DASHBOARDS_MOUNT = '/var/lib/grafana-dashboards';
const UID = 472;
const DATA_DIR = '/var/lib/grafana';
const PROVISIONING_DIR = '/etc/grafana/provisioning';

export interface GrafanaArgs extends ThirdPartyService {
  namespace: pulumi.Input<string>;
  storage?: string;
  host?: string;
  tls?: TlsSetting;
  ingressClassName: string;
  /** Where people open it (root_url): the links Grafana itself renders. */
  externalUrl: string;
  /** dashboard JSON by file name */
  dashboards: Record<string, string>;
  provisioning: { datasources: string; dashboards: string };
}

/** What the pod mounts: its data volume, the provisioning files and the dashboards, with their checksums. */
interface GrafanaFiles {
  data: k8s.types.input.core.v1.Volume;
  provisioning: pulumi.Output<string>;
  dashboards: pulumi.Output<string>;
  checksums: Record<string, pulumi.Output<string>>;
}

export class Grafana extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly adminPassword: pulumi.Output<string>;

  constructor(name: string, args: GrafanaArgs, opts: KubernetesComponentOptions) {
    super('event-stack:monitoring:Grafana', name, {}, opts);
    const password = new random.RandomPassword(`${name}-admin-password`, { length: 24, special: false }, { parent: this });
    const admin = new k8s.core.v1.Secret(
      `${name}-admin`,
      {
        metadata: objectMetadata(GRAFANA_NAME, args.namespace, `${GRAFANA_NAME}-admin`),
        stringData: { GF_SECURITY_ADMIN_USER: 'admin', GF_SECURITY_ADMIN_PASSWORD: password.result },
      },
      { parent: this },
    );
    const files = this.files(name, args);
    const { service } = this.workload(name, args, admin.metadata.name, files);
    if (args.host) this.ingress(name, args, args.host, service.metadata.name);
    this.url = pulumi.output(args.host ? `${args.tls ? 'https' : 'http'}://${args.host}` : `http://127.0.0.1:${GRAFANA_PORT}`);
    this.adminPassword = pulumi.secret(password.result);
    this.registerOutputs({ url: this.url, adminPassword: this.adminPassword });
  }

  /** The provisioning and dashboard ConfigMaps, and the data volume: claimed where the stage keeps it, else empty at each start. */
  private files(name: string, args: GrafanaArgs): GrafanaFiles {
    const workload = { name: GRAFANA_NAME, namespace: args.namespace };
    const provisioningData = { 'datasources.yml': args.provisioning.datasources, 'dashboards.yml': args.provisioning.dashboards };
    const provisioning = mountedConfigMap(name, workload, 'provisioning', provisioningData, { parent: this });
    const dashboards = mountedConfigMap(name, workload, 'dashboards', args.dashboards, { parent: this });
    return {
      data: args.storage ? claimedDataVolume(name, workload, args.storage, { parent: this }) : { name: 'data', emptyDir: {} },
      provisioning: provisioning.name,
      dashboards: dashboards.name,
      checksums: { ...provisioning.annotations, ...dashboards.annotations },
    };
  }

  private workload(name: string, args: GrafanaArgs, adminSecret: pulumi.Output<string>, files: GrafanaFiles) {
    return singleReplicaWorkload(
      name,
      {
        name: GRAFANA_NAME,
        namespace: args.namespace,
        servicePort: 'http',
        strategy: ONE_POD_AT_A_TIME,
        uid: UID,
        annotations: files.checksums,
        container: {
          name: 'grafana',
          image: args.image,
          ports: [{ name: 'http', containerPort: GRAFANA_PORT }],
          envFrom: [{ secretRef: { name: adminSecret } }],
          env: grafanaEnvironment(args.externalUrl),
          resources: args.resources,
          startupProbe: httpProbe('/api/health', 'http', 5, 60),
          livenessProbe: httpProbe('/api/health', 'http', 10, 3),
          readinessProbe: httpProbe('/api/health', 'http', 5, 2),
          volumeMounts: [
            { name: 'data', mountPath: DATA_DIR },
            { name: 'tmp', mountPath: '/tmp' },
            { name: 'provisioning', mountPath: PROVISIONING_DIR },
            { name: 'dashboards', mountPath: DASHBOARDS_MOUNT },
          ],
        },
        volumes: [
          files.data,
          { name: 'tmp', emptyDir: {} },
          {
            name: 'provisioning',
            configMap: {
              name: files.provisioning,
              items: [
                { key: 'datasources.yml', path: 'datasources/datasources.yml' },
                { key: 'dashboards.yml', path: 'dashboards/dashboards.yml' },
              ],
            },
          },
          { name: 'dashboards', configMap: { name: files.dashboards } },
        ],
      },
      { parent: this },
    );
  }

  /** Where people open it: `host`, with TLS where the stage configures it. */
  private ingress(name: string, args: GrafanaArgs, host: string, service: pulumi.Output<string>): void {
    const { namespace, tls, ingressClassName } = args;
    hostIngress(
      `${name}-ingress`,
      { name: GRAFANA_NAME, namespace, host, tls, ingressClassName, path: '/', service, servicePort: 'http' },
      { parent: this },
    );
  }
}

/** No anonymous access or sign-up, no phoning home, its root URL, its paths, and logs on stdout only. */
function grafanaEnvironment(externalUrl: string) {
  return [
    { name: 'GF_AUTH_ANONYMOUS_ENABLED', value: 'false' },
    { name: 'GF_SERVER_ROOT_URL', value: externalUrl },
    { name: 'GF_USERS_ALLOW_SIGN_UP', value: 'false' },
    { name: 'GF_ANALYTICS_REPORTING_ENABLED', value: 'false' },
    { name: 'GF_PATHS_DATA', value: DATA_DIR },
    { name: 'GF_PATHS_PROVISIONING', value: PROVISIONING_DIR },
    // Logs go to stdout only: the root filesystem is read-only, and the kubelet collects stdout.
    { name: 'GF_LOG_MODE', value: 'console' },
  ];
}
