/** Alertmanager: its configuration holds receiver URLs from stack secrets, so it lives in a Secret. */
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

export const ALERTMANAGER_NAME = 'alertmanager';
export const ALERTMANAGER_PORT = 9093;
const UID = 65534;

export interface AlertmanagerArgs extends ThirdPartyService {
  namespace: pulumi.Input<string>;
  /** alertmanager.yml, secret (it carries the receivers' URLs) */
  config: pulumi.Output<string>;
  provider: k8s.Provider;
}

export class Alertmanager extends pulumi.ComponentResource {
  constructor(name: string, args: AlertmanagerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:monitoring:Alertmanager', name, {}, opts);
    const o = () => childOptions(this, args.provider);
    const configData = { 'alertmanager.yml': pulumi.secret(args.config) };
    const config = new k8s.core.v1.Secret(
      `${name}-config`,
      {
        metadata: { name: `${ALERTMANAGER_NAME}-config`, namespace: args.namespace, labels: labelsFor(ALERTMANAGER_NAME) },
        stringData: configData,
      },
      o(),
    );
    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name: ALERTMANAGER_NAME, namespace: args.namespace, labels: labelsFor(ALERTMANAGER_NAME) },
        spec: {
          replicas: 1,
          selector: { matchLabels: selectorFor(ALERTMANAGER_NAME) },
          template: {
            metadata: { labels: labelsFor(ALERTMANAGER_NAME), annotations: { 'checksum/config': checksumOf(configData) } },
            spec: {
              automountServiceAccountToken: false,
              securityContext: podSecurityContext(UID),
              containers: [
                {
                  name: 'alertmanager',
                  image: args.image,
                  args: [
                    '--config.file=/etc/alertmanager/alertmanager.yml',
                    '--storage.path=/alertmanager',
                    // One replica: no peers to gossip with, so no cluster listener (an empty address disables it).
                    '--cluster.listen-address=',
                  ],
                  ports: [{ name: 'http', containerPort: ALERTMANAGER_PORT }],
                  resources: resourcesOf(args.resources),
                  securityContext: containerSecurityContext,
                  livenessProbe: httpProbe('/-/healthy', 'http', 10, 3),
                  readinessProbe: httpProbe('/-/ready', 'http', 5, 2),
                  volumeMounts: [
                    { name: 'config', mountPath: '/etc/alertmanager' },
                    { name: 'data', mountPath: '/alertmanager' },
                  ],
                },
              ],
              volumes: [
                { name: 'config', secret: { secretName: config.metadata.name } },
                { name: 'data', emptyDir: {} },
              ],
            },
          },
        },
      },
      o(),
    );
    clusterService(
      `${name}-service`,
      { name: ALERTMANAGER_NAME, namespace: args.namespace, port: ALERTMANAGER_PORT, portName: 'http' },
      o(),
    );
    this.registerOutputs({});
  }
}
