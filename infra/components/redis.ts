/** Redis for rate limiting: no persistence (the service fails open without it), a generated password. */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { ThirdPartyService } from '../config';
import {
  checksumOf,
  childOptions,
  clusterService,
  containerSecurityContext,
  labelsFor,
  podSecurityContext,
  resourcesOf,
  selectorFor,
} from './workload';

export const REDIS_NAME = 'redis';
const PORT = 6379;
const UID = 999;

export interface RedisArgs extends ThirdPartyService {
  namespace: pulumi.Input<string>;
  provider: k8s.Provider;
}

export class Redis extends pulumi.ComponentResource {
  /** redis://… with the password, a secret output. */
  readonly redisUrl: pulumi.Output<string>;

  constructor(name: string, args: RedisArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:data:Redis', name, {}, opts);
    const o = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, args.provider, extra);
    const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent: this });
    const credentials = { REDIS_PASSWORD: password.result };
    const secret = new k8s.core.v1.Secret(
      `${name}-credentials`,
      {
        metadata: { name: `${REDIS_NAME}-credentials`, namespace: args.namespace, labels: labelsFor(REDIS_NAME) },
        stringData: credentials,
      },
      o(),
    );
    const tcp = { tcpSocket: { port: 'redis' } };
    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name: REDIS_NAME, namespace: args.namespace, labels: labelsFor(REDIS_NAME) },
        spec: {
          replicas: 1,
          selector: { matchLabels: selectorFor(REDIS_NAME) },
          template: {
            metadata: { labels: labelsFor(REDIS_NAME), annotations: { 'checksum/secret': checksumOf(credentials) } },
            spec: {
              automountServiceAccountToken: false,
              securityContext: podSecurityContext(UID),
              containers: [
                {
                  name: 'redis',
                  image: args.image,
                  args: ['--requirepass', '$(REDIS_PASSWORD)', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru'],
                  envFrom: [{ secretRef: { name: secret.metadata.name } }],
                  ports: [{ name: 'redis', containerPort: PORT }],
                  resources: resourcesOf(args.resources),
                  securityContext: containerSecurityContext,
                  livenessProbe: { ...tcp, periodSeconds: 10, failureThreshold: 3 },
                  readinessProbe: { ...tcp, periodSeconds: 5, failureThreshold: 2 },
                  volumeMounts: [{ name: 'data', mountPath: '/data' }],
                },
              ],
              volumes: [{ name: 'data', emptyDir: {} }],
            },
          },
        },
      },
      o(),
    );
    clusterService(`${name}-service`, { name: REDIS_NAME, namespace: args.namespace, port: PORT, portName: 'redis' }, o());
    this.redisUrl = pulumi.secret(
      pulumi.interpolate`redis://:${password.result}@${REDIS_NAME}.${args.namespace}.svc.cluster.local:${PORT}`,
    );
    this.registerOutputs({ redisUrl: this.redisUrl });
  }
}
