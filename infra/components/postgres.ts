/**
 * PostgreSQL in the cluster on CloudNativePG: a `Cluster` (one primary, instances − 1 streaming replicas,
 * synchronous commit to one replica from 3 instances), WAL archived continuously and base backups taken by the
 * Barman Cloud plugin into an `ObjectStore`, a `ScheduledBackup`, and the owner's credentials. The operator and the
 * plugin are cluster-wide prerequisites (docs/deploy.md "Database"); their CRDs are vendored in infra/crds and every
 * object here is validated against them offline (infra/test/cnpg.test.ts).
 * Point-in-time recovery: `recovery` bootstraps a new Cluster (a new name, so the old one is never overwritten)
 * from the archive up to a target time.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { StackConfig } from '../stack-schema';
import { postgresSettings } from '../postgres/settings';
import { labelsFor, resourcesOf } from './workload';

type InCluster = Exclude<StackConfig['postgres'], { external: true }>;

export const POSTGRES_NAME = 'postgres';
export const POSTGRES_PORT = 5432;
/** The labels CloudNativePG puts on every instance pod (pkg/specs of the pinned operator). */
export const CNPG_INSTANCE_LABELS = { 'cnpg.io/podRole': 'instance' };
/** The names of the instance manager's ports on the instance pods: its metrics, and the status the operator reads. */
export const CNPG_PORT_NAMES = { metrics: 'metrics', status: 'status' } as const;
/** The Barman Cloud plugin's name in `spec.plugins` and `externalClusters`. */
const BARMAN_PLUGIN = 'barman-cloud.cloudnative-pg.io';
const DATABASE = 'events';
const USER = 'events';

export interface PostgresArgs extends InCluster {
  namespace: pulumi.Input<string>;
}

/** The Cluster's name: a recovery is a new cluster, named after its target so a second recovery is again new. */
export function clusterNameOf(recovery: InCluster['recovery']): string {
  if (!recovery) return POSTGRES_NAME;
  return `${POSTGRES_NAME}-pitr-${recovery.targetTime
    .replace(/\.\d+/, '')
    .replace(/[^0-9]/g, '')
    .slice(0, 14)}`;
}

/** A 5-field cron schedule as CloudNativePG's 6-field one (seconds first). */
export const withSeconds = (schedule: string) => (schedule.startsWith('@') ? schedule : `0 ${schedule}`);

/** The ObjectStore's credentials, by provider, from the Secret named in the stack file (keys: docs/deploy.md). */
function credentialsOf(store: InCluster['backup']['objectStore']): Record<string, unknown> {
  const key = (k: string) => ({ name: store.secret, key: k });
  if (store.provider === 's3') return { s3Credentials: { accessKeyId: key('ACCESS_KEY_ID'), secretAccessKey: key('ACCESS_SECRET_KEY') } };
  if (store.provider === 'gcs') return { googleCredentials: { applicationCredentials: key('APPLICATION_CREDENTIALS') } };
  return { azureCredentials: { connectionString: key('AZURE_CONNECTION_STRING') } };
}

/** protect + retainOnDelete where the stack says so: the data and its archive outlive a destroy or a rename. */
const keepOf = (args: PostgresArgs): pulumi.CustomResourceOptions => (args.retain ? { protect: true, retainOnDelete: true } : {});

export class Postgres extends pulumi.ComponentResource {
  /** postgres://… of the primary (the -rw Service), a secret output. */
  readonly databaseUrl: pulumi.Output<string>;
  /** The Service reads may use: -ro (replicas only) when the stack reads from replicas, else -rw. */
  readonly readHost: pulumi.Output<string>;
  readonly cluster: k8s.apiextensions.CustomResource;

  /** The Kubernetes objects are created as its children: give the provider in `opts`, they inherit it. */
  constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:data:Postgres', name, {}, opts);
    const clusterName = clusterNameOf(args.recovery);
    const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent: this });
    const credentials = this.ownerCredentials(name, args, password.result);
    const objectStore = this.archive(name, args);
    this.cluster = this.instances(name, args, clusterName, { credentials, objectStore });
    this.scheduledBackup(name, args, clusterName);
    const host = (service: string) => pulumi.interpolate`${clusterName}-${service}.${args.namespace}.svc.cluster.local`;
    this.databaseUrl = pulumi.secret(pulumi.interpolate`postgres://${USER}:${password.result}@${host('rw')}:${POSTGRES_PORT}/${DATABASE}`);
    this.readHost = args.readsFromReplicas ? host('ro') : host('rw');
    this.registerOutputs({ databaseUrl: this.databaseUrl });
  }

  /** The owner's user and password, which initdb gives the database's owner. */
  private ownerCredentials(name: string, args: PostgresArgs, password: pulumi.Output<string>): k8s.core.v1.Secret {
    return new k8s.core.v1.Secret(
      `${name}-credentials`,
      {
        metadata: { name: `${POSTGRES_NAME}-credentials`, namespace: args.namespace, labels: labelsFor(POSTGRES_NAME) },
        type: 'kubernetes.io/basic-auth',
        stringData: { username: USER, password },
      },
      { parent: this },
    );
  }

  /** The ObjectStore (Barman Cloud plugin) the WAL and the base backups go to. */
  private archive(name: string, args: PostgresArgs): k8s.apiextensions.CustomResource {
    const store = args.backup.objectStore;
    return new k8s.apiextensions.CustomResource(
      `${name}-object-store`,
      {
        apiVersion: 'barmancloud.cnpg.io/v1',
        kind: 'ObjectStore',
        metadata: { name: `${POSTGRES_NAME}-archive`, namespace: args.namespace, labels: labelsFor(POSTGRES_NAME, 'archive') },
        spec: {
          retentionPolicy: args.backup.retention,
          configuration: {
            destinationPath: store.destinationPath,
            ...(store.endpointURL ? { endpointURL: store.endpointURL } : {}),
            ...credentialsOf(store),
            wal: { compression: 'gzip' },
            data: { compression: 'gzip' },
          },
        },
      },
      { parent: this, ...keepOf(args) },
    );
  }

  /** The CloudNativePG Cluster: a new database (initdb) or, with `recovery`, one restored from the archive. */
  private instances(
    name: string,
    args: PostgresArgs,
    clusterName: string,
    uses: { credentials: k8s.core.v1.Secret; objectStore: k8s.apiextensions.CustomResource },
  ): k8s.apiextensions.CustomResource {
    const archive = { barmanObjectName: uses.objectStore.metadata.name };
    return new k8s.apiextensions.CustomResource(
      `${name}-cluster`,
      {
        apiVersion: 'postgresql.cnpg.io/v1',
        kind: 'Cluster',
        metadata: { name: clusterName, namespace: args.namespace, labels: labelsFor(POSTGRES_NAME) },
        spec: {
          instances: args.instances,
          imageName: args.image,
          primaryUpdateStrategy: 'unsupervised',
          storage: { size: args.storage },
          resources: resourcesOf(args.resources),
          enableSuperuserAccess: false,
          postgresql: {
            parameters: Object.fromEntries(postgresSettings()),
            // From 3 instances a commit waits for one replica: a failover loses no acknowledged event.
            ...(args.instances >= 3 ? { synchronous: { method: 'any', number: 1 } } : {}),
          },
          // Each instance on its own node when the cluster has nodes for it.
          affinity: { enablePodAntiAffinity: true, topologyKey: 'kubernetes.io/hostname', podAntiAffinityType: 'preferred' },
          // Archiving is the plugin's; this cluster's WAL goes under its own server name.
          plugins: [{ name: BARMAN_PLUGIN, isWALArchiver: true, parameters: { ...archive, serverName: clusterName } }],
          bootstrap: args.recovery
            ? { recovery: { source: 'origin', recoveryTarget: { targetTime: args.recovery.targetTime } } }
            : {
                initdb: {
                  database: DATABASE,
                  owner: USER,
                  secret: { name: uses.credentials.metadata.name },
                  // The migration creates the service's role (app/src/db/service-role.ts), as on a managed database.
                  postInitSQL: [`ALTER ROLE ${USER} CREATEROLE`],
                },
              },
          ...(args.recovery
            ? {
                externalClusters: [
                  { name: 'origin', plugin: { name: BARMAN_PLUGIN, parameters: { ...archive, serverName: args.recovery.fromServer } } },
                ],
              }
            : {}),
        },
      },
      { parent: this, ...keepOf(args), dependsOn: [uses.objectStore, uses.credentials] },
    );
  }

  /** The base backups, on the stack's schedule, from a replica when there is one. */
  private scheduledBackup(name: string, args: PostgresArgs, clusterName: string): void {
    new k8s.apiextensions.CustomResource(
      `${name}-scheduled-backup`,
      {
        apiVersion: 'postgresql.cnpg.io/v1',
        kind: 'ScheduledBackup',
        metadata: { name: `${clusterName}-nightly`, namespace: args.namespace, labels: labelsFor(POSTGRES_NAME, 'backup') },
        spec: {
          schedule: withSeconds(args.backup.schedule),
          backupOwnerReference: 'self',
          cluster: { name: clusterName },
          method: 'plugin',
          pluginConfiguration: { name: BARMAN_PLUGIN },
          // From a replica when there is one: the primary keeps serving writes at full speed.
          target: args.instances > 1 ? 'prefer-standby' : 'primary',
        },
      },
      { parent: this, dependsOn: [this.cluster] },
    );
  }
}
