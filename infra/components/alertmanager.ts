/**
 * Alertmanager: its configuration holds receiver URLs from stack secrets, so it lives in a Secret. A StatefulSet:
 * with several replicas each gossips with the others (silences, the notification log) through a headless
 * Service that also lists unready peers, and with storage each keeps them on its own volume.
 */
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
/** The gossip port (TCP and UDP) the replicas reach each other on. */
export const ALERTMANAGER_CLUSTER_PORT = 9094;
export const ALERTMANAGER_PEERS = `${ALERTMANAGER_NAME}-peers`;
const UID = 65534;

/** host:port of each replica's web port, by its stable name under the headless Service (Prometheus sends to every one). */
export const alertmanagerAddresses = (replicas: number, namespace: string, port = ALERTMANAGER_PORT) =>
  Array.from({ length: replicas }, (_, i) => `${ALERTMANAGER_NAME}-${i}.${ALERTMANAGER_PEERS}.${namespace}.svc.cluster.local:${port}`);

export interface AlertmanagerArgs extends ThirdPartyService {
  namespace: string;
  replicas: number;
  storage?: string;
  /** Where people open it: the links of every notification. */
  externalUrl: string;
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
    const clustered = args.replicas > 1;
    const peers = new k8s.core.v1.Service(
      `${name}-peers`,
      {
        metadata: { name: ALERTMANAGER_PEERS, namespace: args.namespace, labels: labelsFor(ALERTMANAGER_NAME) },
        spec: {
          clusterIP: 'None',
          // A replica must find its peers before it is Ready (it waits for the gossip to settle).
          publishNotReadyAddresses: true,
          selector: selectorFor(ALERTMANAGER_NAME),
          ports: [
            { name: 'http', port: ALERTMANAGER_PORT, targetPort: 'http' },
            ...(clustered
              ? [
                  { name: 'cluster-tcp', port: ALERTMANAGER_CLUSTER_PORT, targetPort: 'cluster-tcp', protocol: 'TCP' },
                  { name: 'cluster-udp', port: ALERTMANAGER_CLUSTER_PORT, targetPort: 'cluster-udp', protocol: 'UDP' },
                ]
              : []),
          ],
        },
      },
      o(),
    );
    new k8s.apps.v1.StatefulSet(
      `${name}-statefulset`,
      {
        metadata: { name: ALERTMANAGER_NAME, namespace: args.namespace, labels: labelsFor(ALERTMANAGER_NAME) },
        spec: {
          replicas: args.replicas,
          serviceName: peers.metadata.name,
          podManagementPolicy: 'Parallel',
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
                    `--web.external-url=${args.externalUrl}`,
                    ...(clustered
                      ? [
                          `--cluster.listen-address=0.0.0.0:${ALERTMANAGER_CLUSTER_PORT}`,
                          `--cluster.advertise-address=$(POD_IP):${ALERTMANAGER_CLUSTER_PORT}`,
                          ...alertmanagerAddresses(args.replicas, args.namespace, ALERTMANAGER_CLUSTER_PORT).map(
                            (a) => `--cluster.peer=${a}`,
                          ),
                        ]
                      : // One replica: no peers to gossip with, so no cluster listener (an empty address disables it).
                        ['--cluster.listen-address=']),
                  ],
                  env: clustered ? [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }] : undefined,
                  ports: [
                    { name: 'http', containerPort: ALERTMANAGER_PORT },
                    ...(clustered
                      ? [
                          { name: 'cluster-tcp', containerPort: ALERTMANAGER_CLUSTER_PORT, protocol: 'TCP' },
                          { name: 'cluster-udp', containerPort: ALERTMANAGER_CLUSTER_PORT, protocol: 'UDP' },
                        ]
                      : []),
                  ],
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
                ...(args.storage ? [] : [{ name: 'data', emptyDir: {} }]),
              ],
            },
          },
          volumeClaimTemplates: args.storage
            ? [
                {
                  metadata: { name: 'data', labels: labelsFor(ALERTMANAGER_NAME) },
                  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: args.storage } } },
                },
              ]
            : undefined,
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
