/**
 * The Pushgateway the maintenance CronJob pushes its metrics to; Prometheus scrapes it with honor_labels.
 * It keeps what was pushed in a file on a claimed volume, so a restart does not blank the maintenance
 * metrics (their staleness alerts would otherwise see nothing until the next run).
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { ThirdPartyService } from '../config';
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

export const PUSHGATEWAY_NAME = 'pushgateway';
export const PUSHGATEWAY_PORT = 9091;
const UID = 65534;
const DATA_DIR = '/data';
/** The file holds only the last push of each group: a few kilobytes. */
const DATA_STORAGE = '1Gi';

export interface PushgatewayArgs extends ThirdPartyService {
  namespace: pulumi.Input<string>;
  provider: k8s.Provider;
}

export class Pushgateway extends pulumi.ComponentResource {
  constructor(name: string, args: PushgatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:monitoring:Pushgateway', name, {}, opts);
    const o = () => childOptions(this, args.provider);
    const data = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-data`,
      {
        metadata: { name: `${PUSHGATEWAY_NAME}-data`, namespace: args.namespace, labels: labelsFor(PUSHGATEWAY_NAME) },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: DATA_STORAGE } } },
      },
      o(),
    );
    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name: PUSHGATEWAY_NAME, namespace: args.namespace, labels: labelsFor(PUSHGATEWAY_NAME) },
        spec: {
          replicas: 1,
          // A ReadWriteOnce volume: the old pod must let go of it before the new one starts.
          strategy: { type: 'Recreate' },
          selector: { matchLabels: selectorFor(PUSHGATEWAY_NAME) },
          template: {
            metadata: { labels: labelsFor(PUSHGATEWAY_NAME) },
            spec: {
              automountServiceAccountToken: false,
              securityContext: podSecurityContext(UID),
              containers: [
                {
                  name: 'pushgateway',
                  image: args.image,
                  args: [`--persistence.file=${DATA_DIR}/metrics`, '--persistence.interval=1m'],
                  ports: [{ name: 'http', containerPort: PUSHGATEWAY_PORT }],
                  volumeMounts: [{ name: 'data', mountPath: DATA_DIR }],
                  resources: resourcesOf(args.resources),
                  securityContext: containerSecurityContext,
                  livenessProbe: httpProbe('/-/healthy', 'http', 10, 3),
                  readinessProbe: httpProbe('/-/ready', 'http', 5, 2),
                },
              ],
              volumes: [{ name: 'data', persistentVolumeClaim: { claimName: data.metadata.name } }],
            },
          },
        },
      },
      o(),
    );
    clusterService(`${name}-service`, { name: PUSHGATEWAY_NAME, namespace: args.namespace, port: PUSHGATEWAY_PORT, portName: 'http' }, o());
    this.registerOutputs({});
  }
}
