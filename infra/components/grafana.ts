/** Grafana: provisioned Prometheus datasource, the repository's dashboards, generated admin password, no anonymous access. */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { ThirdPartyService, TlsSetting } from '../config';
import { hostIngress } from './ingress';
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

export const GRAFANA_NAME = 'grafana';
export const GRAFANA_PORT = 3000;
export const DASHBOARDS_MOUNT = '/var/lib/grafana-dashboards';
const UID = 472;

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
  provider: k8s.Provider;
}

export class Grafana extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly adminPassword: pulumi.Output<string>;

  constructor(name: string, args: GrafanaArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:monitoring:Grafana', name, {}, opts);
    const o = () => childOptions(this, args.provider);
    const ns = args.namespace;
    const password = new random.RandomPassword(`${name}-admin-password`, { length: 24, special: false }, { parent: this });
    const admin = new k8s.core.v1.Secret(
      `${name}-admin`,
      {
        metadata: { name: `${GRAFANA_NAME}-admin`, namespace: ns, labels: labelsFor(GRAFANA_NAME) },
        stringData: { GF_SECURITY_ADMIN_USER: 'admin', GF_SECURITY_ADMIN_PASSWORD: password.result },
      },
      o(),
    );
    const provisioningData = { 'datasources.yml': args.provisioning.datasources, 'dashboards.yml': args.provisioning.dashboards };
    const provisioning = new k8s.core.v1.ConfigMap(
      `${name}-provisioning`,
      { metadata: { name: `${GRAFANA_NAME}-provisioning`, namespace: ns, labels: labelsFor(GRAFANA_NAME) }, data: provisioningData },
      o(),
    );
    const dashboards = new k8s.core.v1.ConfigMap(
      `${name}-dashboards`,
      { metadata: { name: `${GRAFANA_NAME}-dashboards`, namespace: ns, labels: labelsFor(GRAFANA_NAME) }, data: args.dashboards },
      o(),
    );
    const data = args.storage
      ? new k8s.core.v1.PersistentVolumeClaim(
          `${name}-data`,
          {
            metadata: { name: `${GRAFANA_NAME}-data`, namespace: ns, labels: labelsFor(GRAFANA_NAME) },
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: args.storage } } },
          },
          o(),
        )
      : undefined;
    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name: GRAFANA_NAME, namespace: ns, labels: labelsFor(GRAFANA_NAME) },
        spec: {
          replicas: 1,
          // One pod owns the volume at a time.
          strategy: { type: 'Recreate' },
          selector: { matchLabels: selectorFor(GRAFANA_NAME) },
          template: {
            metadata: {
              labels: labelsFor(GRAFANA_NAME),
              annotations: { 'checksum/provisioning': checksumOf(provisioningData), 'checksum/dashboards': checksumOf(args.dashboards) },
            },
            spec: {
              automountServiceAccountToken: false,
              securityContext: podSecurityContext(UID),
              containers: [
                {
                  name: 'grafana',
                  image: args.image,
                  ports: [{ name: 'http', containerPort: GRAFANA_PORT }],
                  envFrom: [{ secretRef: { name: admin.metadata.name } }],
                  env: [
                    { name: 'GF_AUTH_ANONYMOUS_ENABLED', value: 'false' },
                    { name: 'GF_SERVER_ROOT_URL', value: args.externalUrl },
                    { name: 'GF_USERS_ALLOW_SIGN_UP', value: 'false' },
                    { name: 'GF_ANALYTICS_REPORTING_ENABLED', value: 'false' },
                    { name: 'GF_PATHS_DATA', value: '/var/lib/grafana' },
                    { name: 'GF_PATHS_PROVISIONING', value: '/etc/grafana/provisioning' },
                    // Logs go to stdout only: the root filesystem is read-only, and the kubelet collects stdout.
                    { name: 'GF_LOG_MODE', value: 'console' },
                  ],
                  resources: resourcesOf(args.resources),
                  securityContext: containerSecurityContext,
                  startupProbe: httpProbe('/api/health', 'http', 5, 60),
                  livenessProbe: httpProbe('/api/health', 'http', 10, 3),
                  readinessProbe: httpProbe('/api/health', 'http', 5, 2),
                  volumeMounts: [
                    { name: 'data', mountPath: '/var/lib/grafana' },
                    { name: 'tmp', mountPath: '/tmp' },
                    { name: 'provisioning', mountPath: '/etc/grafana/provisioning' },
                    { name: 'dashboards', mountPath: DASHBOARDS_MOUNT },
                  ],
                },
              ],
              volumes: [
                data ? { name: 'data', persistentVolumeClaim: { claimName: data.metadata.name } } : { name: 'data', emptyDir: {} },
                { name: 'tmp', emptyDir: {} },
                {
                  name: 'provisioning',
                  configMap: {
                    name: provisioning.metadata.name,
                    items: [
                      { key: 'datasources.yml', path: 'datasources/datasources.yml' },
                      { key: 'dashboards.yml', path: 'dashboards/dashboards.yml' },
                    ],
                  },
                },
                { name: 'dashboards', configMap: { name: dashboards.metadata.name } },
              ],
            },
          },
        },
      },
      o(),
    );
    const service = clusterService(`${name}-service`, { name: GRAFANA_NAME, namespace: ns, port: GRAFANA_PORT, portName: 'http' }, o());
    if (args.host)
      hostIngress(
        `${name}-ingress`,
        {
          name: GRAFANA_NAME,
          namespace: ns,
          host: args.host,
          tls: args.tls,
          ingressClassName: args.ingressClassName,
          path: '/',
          service: service.metadata.name,
          servicePort: 'http',
        },
        o(),
      );
    this.url = pulumi.output(args.host ? `${args.tls ? 'https' : 'http'}://${args.host}` : `http://127.0.0.1:${GRAFANA_PORT}`);
    this.adminPassword = pulumi.secret(password.result);
    this.registerOutputs({ url: this.url, adminPassword: this.adminPassword });
  }
}
