/** PostgreSQL in the cluster: a StatefulSet with a PVC, a Service, and a Secret holding a generated password. */
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

export const POSTGRES_NAME = 'postgres';
const PORT = 5432;
/** The uid of the official image's postgres user. */
const UID = 999;
const DATABASE = 'events';
const USER = 'events';

export interface PostgresArgs extends ThirdPartyService {
  namespace: pulumi.Input<string>;
  storage: string;
  provider: k8s.Provider;
}

export class Postgres extends pulumi.ComponentResource {
  /** postgres://… of the in-cluster database, a secret output. */
  readonly databaseUrl: pulumi.Output<string>;
  readonly statefulSet: k8s.apps.v1.StatefulSet;

  constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:data:Postgres', name, {}, opts);
    const o = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, args.provider, extra);
    const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent: this });
    const credentials = { POSTGRES_USER: USER, POSTGRES_DB: DATABASE, POSTGRES_PASSWORD: password.result };
    const secret = new k8s.core.v1.Secret(
      `${name}-credentials`,
      {
        metadata: { name: `${POSTGRES_NAME}-credentials`, namespace: args.namespace, labels: labelsFor(POSTGRES_NAME) },
        stringData: credentials,
      },
      o(),
    );
    const service = clusterService(
      `${name}-service`,
      { name: POSTGRES_NAME, namespace: args.namespace, port: PORT, portName: 'postgres' },
      o(),
    );
    const ready = { exec: { command: ['pg_isready', '-h', '127.0.0.1', '-U', USER, '-d', DATABASE] } };
    this.statefulSet = new k8s.apps.v1.StatefulSet(
      `${name}-statefulset`,
      {
        metadata: { name: POSTGRES_NAME, namespace: args.namespace, labels: labelsFor(POSTGRES_NAME) },
        spec: {
          serviceName: service.metadata.name,
          replicas: 1,
          selector: { matchLabels: selectorFor(POSTGRES_NAME) },
          template: {
            metadata: { labels: labelsFor(POSTGRES_NAME), annotations: { 'checksum/secret': checksumOf(credentials) } },
            spec: {
              automountServiceAccountToken: false,
              securityContext: podSecurityContext(UID),
              terminationGracePeriodSeconds: 60,
              containers: [
                {
                  name: 'postgres',
                  image: args.image,
                  ports: [{ name: 'postgres', containerPort: PORT }],
                  envFrom: [{ secretRef: { name: secret.metadata.name } }],
                  env: [{ name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' }],
                  resources: resourcesOf(args.resources),
                  securityContext: containerSecurityContext,
                  startupProbe: { ...ready, periodSeconds: 5, failureThreshold: 60 },
                  livenessProbe: { ...ready, periodSeconds: 15, failureThreshold: 4, timeoutSeconds: 5 },
                  readinessProbe: { ...ready, periodSeconds: 5, failureThreshold: 2, timeoutSeconds: 3 },
                  volumeMounts: [
                    { name: 'data', mountPath: '/var/lib/postgresql/data' },
                    { name: 'run', mountPath: '/var/run/postgresql' },
                    { name: 'tmp', mountPath: '/tmp' },
                  ],
                },
              ],
              volumes: [
                { name: 'run', emptyDir: {} },
                { name: 'tmp', emptyDir: {} },
              ],
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: 'data', labels: labelsFor(POSTGRES_NAME) },
              spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: args.storage } } },
            },
          ],
        },
      },
      o(),
    );
    this.databaseUrl = pulumi.secret(
      pulumi.interpolate`postgres://${USER}:${password.result}@${POSTGRES_NAME}.${args.namespace}.svc.cluster.local:${PORT}/${DATABASE}`,
    );
    this.registerOutputs({ databaseUrl: this.databaseUrl });
  }
}
