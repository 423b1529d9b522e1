/**
 * The Pushgateway the maintenance CronJob pushes its metrics to; Prometheus scrapes it with honor_labels.
 * It keeps what was pushed in a file on a claimed volume, so a restart does not blank the maintenance
 * metrics (their staleness alerts would otherwise see nothing until the next run).
 */
import * as pulumi from '@pulumi/pulumi';
import type { ThirdPartyService } from '../config';
import type { KubernetesComponentOptions } from './options';
import { claimedDataVolume, ONE_POD_AT_A_TIME, singleReplicaWorkload } from './pod';
import { httpProbe } from './workload';

export const PUSHGATEWAY_NAME = 'pushgateway';
export const PUSHGATEWAY_PORT = 9091;
const UID = 65534;
const DATA_DIR = '/data';
/** The file holds only the last push of each group: a few kilobytes. */
const DATA_STORAGE = '1Gi';

export interface PushgatewayArgs extends ThirdPartyService {
  namespace: pulumi.Input<string>;
}

export class Pushgateway extends pulumi.ComponentResource {
  constructor(name: string, args: PushgatewayArgs, opts: KubernetesComponentOptions) {
    super('event-stack:monitoring:Pushgateway', name, {}, opts);
    const data = claimedDataVolume(name, { name: PUSHGATEWAY_NAME, namespace: args.namespace }, DATA_STORAGE, { parent: this });
    singleReplicaWorkload(
      name,
      {
        name: PUSHGATEWAY_NAME,
        namespace: args.namespace,
        servicePort: 'http',
        strategy: ONE_POD_AT_A_TIME,
        uid: UID,
        container: {
          name: 'pushgateway',
          image: args.image,
          args: [`--persistence.file=${DATA_DIR}/metrics`, '--persistence.interval=1m'],
          ports: [{ name: 'http', containerPort: PUSHGATEWAY_PORT }],
          volumeMounts: [{ name: 'data', mountPath: DATA_DIR }],
          resources: args.resources,
          livenessProbe: httpProbe('/-/healthy', 'http', 10, 3),
          readinessProbe: httpProbe('/-/ready', 'http', 5, 2),
        },
        volumes: [data],
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
