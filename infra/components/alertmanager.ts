/**
 * Alertmanager: its configuration holds receiver URLs from stack secrets, so it lives in a Secret. A StatefulSet:
 * with several replicas each gossips with the others (silences, the notification log) through a headless
 * Service that also lists unready peers, and with storage each keeps them on its own volume.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { ThirdPartyService } from '../config';
import type { KubernetesComponentOptions } from './options';
import { dataClaimSpec, objectMetadata, workloadSpec, type WorkloadContainer } from './pod';
import { checksumOf, clusterService, httpProbe, labelsFor, selectorFor } from './workload';

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
}

export class Alertmanager extends pulumi.ComponentResource {
  constructor(name: string, args: AlertmanagerArgs, opts: KubernetesComponentOptions) {
    super('event-stack:monitoring:Alertmanager', name, {}, opts);
    const configData = { 'alertmanager.yml': pulumi.secret(args.config) };
    const config = new k8s.core.v1.Secret(
      `${name}-config`,
      { metadata: objectMetadata(ALERTMANAGER_NAME, args.namespace, `${ALERTMANAGER_NAME}-config`), stringData: configData },
      { parent: this },
    );
    const peers = this.peerService(name, args);
    new k8s.apps.v1.StatefulSet(
      `${name}-statefulset`,
      {
        metadata: objectMetadata(ALERTMANAGER_NAME, args.namespace),
        spec: {
          replicas: args.replicas,
          serviceName: peers.metadata.name,
          podManagementPolicy: 'Parallel',
          ...workloadSpec({
            name: ALERTMANAGER_NAME,
            uid: UID,
            annotations: { 'checksum/config': checksumOf(configData) },
            container: alertmanagerContainer(args),
            volumes: [
              { name: 'config', secret: { secretName: config.metadata.name } },
              // With storage, each replica's own claim (volumeClaimTemplates); without, lost with the pod.
              ...(args.storage ? [] : [{ name: 'data', emptyDir: {} }]),
            ],
          }),
          volumeClaimTemplates: args.storage
            ? [{ metadata: { name: 'data', labels: labelsFor(ALERTMANAGER_NAME) }, spec: dataClaimSpec(args.storage) }]
            : undefined,
        },
      },
      { parent: this },
    );
    clusterService(
      `${name}-service`,
      { name: ALERTMANAGER_NAME, namespace: args.namespace, port: ALERTMANAGER_PORT, portName: 'http' },
      { parent: this },
    );
    this.registerOutputs({});
  }

  /** The headless Service that names each replica (the peers' addresses) and, clustered, carries their gossip. */
  private peerService(name: string, args: AlertmanagerArgs): k8s.core.v1.Service {
    return new k8s.core.v1.Service(
      `${name}-peers`,
      {
        metadata: objectMetadata(ALERTMANAGER_NAME, args.namespace, ALERTMANAGER_PEERS),
        spec: {
          clusterIP: 'None',
          // A replica must find its peers before it is Ready (it waits for the gossip to settle).
          publishNotReadyAddresses: true,
          selector: selectorFor(ALERTMANAGER_NAME),
          ports: [
            { name: 'http', port: ALERTMANAGER_PORT, targetPort: 'http' },
            ...gossipPorts(args.replicas).map(({ name, protocol }) => ({
              name,
              port: ALERTMANAGER_CLUSTER_PORT,
              targetPort: name,
              protocol,
            })),
          ],
        },
      },
      { parent: this },
    );
  }
}

/** The gossip port, TCP and UDP, of a replica that has peers; one replica has none. */
function gossipPorts(replicas: number) {
  return replicas > 1
    ? [
        { name: 'cluster-tcp', protocol: 'TCP' },
        { name: 'cluster-udp', protocol: 'UDP' },
      ]
    : [];
}

/** Its configuration, its data, where people open it, and, clustered, its peers. */
function alertmanagerContainer(args: AlertmanagerArgs): WorkloadContainer {
  const clustered = args.replicas > 1;
  return {
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
            ...alertmanagerAddresses(args.replicas, args.namespace, ALERTMANAGER_CLUSTER_PORT).map((a) => `--cluster.peer=${a}`),
          ]
        : // One replica: no peers to gossip with, so no cluster listener (an empty address disables it).
          ['--cluster.listen-address=']),
    ],
    env: clustered ? [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }] : undefined,
    ports: [
      { name: 'http', containerPort: ALERTMANAGER_PORT },
      ...gossipPorts(args.replicas).map(({ name, protocol }) => ({ name, containerPort: ALERTMANAGER_CLUSTER_PORT, protocol })),
    ],
    resources: args.resources,
    livenessProbe: httpProbe('/-/healthy', 'http', 10, 3),
    readinessProbe: httpProbe('/-/ready', 'http', 5, 2),
    volumeMounts: [
      { name: 'config', mountPath: '/etc/alertmanager' },
      { name: 'data', mountPath: '/alertmanager' },
    ],
  };
}
