/** The Pushgateway the maintenance CronJob pushes its metrics to; Prometheus scrapes it with honor_labels. */
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

export interface PushgatewayArgs extends ThirdPartyService {
  namespace: pulumi.Input<string>;
  provider: k8s.Provider;
}

export class Pushgateway extends pulumi.ComponentResource {
  constructor(name: string, args: PushgatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:monitoring:Pushgateway', name, {}, opts);
    const o = () => childOptions(this, args.provider);
    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name: PUSHGATEWAY_NAME, namespace: args.namespace, labels: labelsFor(PUSHGATEWAY_NAME) },
        spec: {
          replicas: 1,
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
                  ports: [{ name: 'http', containerPort: PUSHGATEWAY_PORT }],
                  resources: resourcesOf(args.resources),
                  securityContext: containerSecurityContext,
                  livenessProbe: httpProbe('/-/healthy', 'http', 10, 3),
                  readinessProbe: httpProbe('/-/ready', 'http', 5, 2),
                },
              ],
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
