/**
 * Redis for rate limiting: no persistence (the service fails open without it), a generated password.
 * Its configuration file lives in a Secret (it holds the password), so the password never appears on the
 * command line; maxmemory is sized from the container's memory limit so Redis evicts before the kernel kills it.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { ThirdPartyService } from '../config';
import type { KubernetesComponentOptions } from './options';
import { objectMetadata, singleReplicaWorkload } from './pod';
import { checksumOf } from './workload';

export const REDIS_NAME = 'redis';
/** The port Redis listens on, and its Service's. */
export const REDIS_PORT = 6379;
const UID = 999;
const CONFIG_DIR = '/etc/redis';
/** Share of the container's memory limit Redis may fill with data; the rest is its own overhead and buffers. */
export const MAXMEMORY_SHARE = 0.75;

const BINARY_UNITS: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
const DECIMAL_UNITS: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/** Bytes of a Kubernetes memory quantity (e.g. 128Mi, 1G, 536870912). */
export function quantityBytes(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  if (!m) throw new Error(`"${quantity}" is not a memory quantity such as 128Mi`);
  return Math.floor(Number(m[1]) * (m[2] ? (BINARY_UNITS[m[2]] ?? DECIMAL_UNITS[m[2]]!) : 1));
}

/** redis.conf: password, memory bound with LRU eviction, no persistence. */
export function redisConfig(password: string, memoryLimit: string): string {
  return [
    `requirepass ${password}`,
    `maxmemory ${Math.floor(quantityBytes(memoryLimit) * MAXMEMORY_SHARE)}`,
    'maxmemory-policy allkeys-lru',
    'save ""',
    'appendonly no',
    '',
  ].join('\n');
}

export interface RedisArgs extends ThirdPartyService {
  namespace: pulumi.Input<string>;
}

export class Redis extends pulumi.ComponentResource {
  /** redis://… with the password, a secret output. */
  readonly redisUrl: pulumi.Output<string>;

  constructor(name: string, args: RedisArgs, opts: KubernetesComponentOptions) {
    super('event-stack:data:Redis', name, {}, opts);
    const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent: this });
    const configData = { 'redis.conf': pulumi.secret(password.result.apply((p) => redisConfig(p, args.resources.limits.memory))) };
    const config = new k8s.core.v1.Secret(
      `${name}-config`,
      { metadata: objectMetadata(REDIS_NAME, args.namespace, `${REDIS_NAME}-config`), stringData: configData },
      { parent: this },
    );
    const tcp = { tcpSocket: { port: 'redis' } };
    singleReplicaWorkload(
      name,
      {
        name: REDIS_NAME,
        namespace: args.namespace,
        servicePort: 'redis',
        uid: UID,
        annotations: { 'checksum/config': checksumOf(configData) },
        container: {
          name: 'redis',
          image: args.image,
          args: [`${CONFIG_DIR}/redis.conf`],
          ports: [{ name: 'redis', containerPort: REDIS_PORT }],
          resources: args.resources,
          livenessProbe: { ...tcp, periodSeconds: 10, failureThreshold: 3 },
          readinessProbe: { ...tcp, periodSeconds: 5, failureThreshold: 2 },
          volumeMounts: [
            { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
            { name: 'data', mountPath: '/data' },
          ],
        },
        volumes: [
          { name: 'config', secret: { secretName: config.metadata.name } },
          { name: 'data', emptyDir: {} },
        ],
      },
      { parent: this },
    );
    this.redisUrl = pulumi.secret(
      pulumi.interpolate`redis://:${password.result}@${REDIS_NAME}.${args.namespace}.svc.cluster.local:${REDIS_PORT}`,
    );
    this.registerOutputs({ redisUrl: this.redisUrl });
  }
}
