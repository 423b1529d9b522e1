/**
 * PostgreSQL in the cluster: a StatefulSet with a PVC, a Service, a Secret holding a generated password,
 * and the nightly backup: a CronJob running infra/backup/pg-backup.sh (pg_dump of the same image) onto a
 * volume of its own, keeping the newest `backup.keep` dumps. Restore: docs/deploy.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { ThirdPartyService } from '../config';
import { postgresArgs } from '../postgres/settings';
import {
  checksumOf,
  childOptions,
  clusterService,
  containerSecurityContext,
  cronJobPolicy,
  labelsFor,
  podSecurityContext,
  resourcesOf,
  selectorFor,
} from './workload';

export const POSTGRES_NAME = 'postgres';
/** The backup pods' name label: not `postgres`, or the database's Service and StatefulSet would select them. */
export const BACKUP_NAME = 'postgres-backup';
const BACKUP_SCRIPTS = path.join(__dirname, '..', 'backup');
const PORT = 5432;
/** The uid of the official image's postgres user. */
const UID = 999;
const DATABASE = 'events';
const USER = 'events';

export interface BackupSettings {
  /** Cron schedule of the CronJob. */
  schedule: string;
  /** How many dumps to keep (the newest). */
  keep: number;
  /** Size of the backup volume. */
  storage: string;
}

export interface PostgresArgs extends ThirdPartyService {
  namespace: pulumi.Input<string>;
  storage: string;
  backup: BackupSettings;
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
                  // The stack's server settings (infra/postgres/postgresql.conf); the image's entrypoint
                  // runs `postgres` with arguments that start with a dash.
                  args: postgresArgs(),
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
    this.backup(name, args, secret, service);
    this.databaseUrl = pulumi.secret(
      pulumi.interpolate`postgres://${USER}:${password.result}@${POSTGRES_NAME}.${args.namespace}.svc.cluster.local:${PORT}/${DATABASE}`,
    );
    this.registerOutputs({ databaseUrl: this.databaseUrl });
  }

  private backup(name: string, args: PostgresArgs, credentials: k8s.core.v1.Secret, service: k8s.core.v1.Service): void {
    const o = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, args.provider, extra);
    const labels = labelsFor(BACKUP_NAME, 'backup');
    const scripts = new k8s.core.v1.ConfigMap(
      `${name}-backup-scripts`,
      {
        metadata: { name: `${BACKUP_NAME}-scripts`, namespace: args.namespace, labels },
        data: Object.fromEntries(['pg-backup.sh', 'pg-restore.sh'].map((f) => [f, fs.readFileSync(path.join(BACKUP_SCRIPTS, f), 'utf8')])),
      },
      o(),
    );
    const volume = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-backups`,
      {
        metadata: { name: `${BACKUP_NAME}s`, namespace: args.namespace, labels },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: args.backup.storage } } },
      },
      o(),
    );
    const fromCredentials = (name: string, key: string) => ({
      name,
      valueFrom: { secretKeyRef: { name: credentials.metadata.name, key } },
    });
    new k8s.batch.v1.CronJob(
      `${name}-backup`,
      {
        metadata: { name: BACKUP_NAME, namespace: args.namespace, labels },
        spec: {
          schedule: args.backup.schedule,
          ...cronJobPolicy,
          jobTemplate: {
            spec: {
              backoffLimit: 2,
              activeDeadlineSeconds: 3 * 3600,
              template: {
                metadata: { labels },
                spec: {
                  restartPolicy: 'Never',
                  automountServiceAccountToken: false,
                  securityContext: podSecurityContext(UID),
                  containers: [
                    {
                      name: 'backup',
                      // The server's own image: its pg_dump matches the server's major version.
                      image: args.image,
                      command: ['sh', '/scripts/pg-backup.sh'],
                      env: [
                        { name: 'PGHOST', value: service.metadata.name },
                        { name: 'PGPORT', value: String(PORT) },
                        fromCredentials('PGUSER', 'POSTGRES_USER'),
                        fromCredentials('PGPASSWORD', 'POSTGRES_PASSWORD'),
                        fromCredentials('PGDATABASE', 'POSTGRES_DB'),
                        { name: 'BACKUP_DIR', value: '/backups' },
                        { name: 'BACKUP_KEEP', value: String(args.backup.keep) },
                      ],
                      resources: resourcesOf(args.resources),
                      securityContext: containerSecurityContext,
                      volumeMounts: [
                        { name: 'scripts', mountPath: '/scripts', readOnly: true },
                        { name: 'backups', mountPath: '/backups' },
                        { name: 'tmp', mountPath: '/tmp' },
                      ],
                    },
                  ],
                  volumes: [
                    { name: 'scripts', configMap: { name: scripts.metadata.name, defaultMode: 0o555 } },
                    { name: 'backups', persistentVolumeClaim: { claimName: volume.metadata.name } },
                    { name: 'tmp', emptyDir: {} },
                  ],
                },
              },
            },
          },
        },
      },
      o(),
    );
  }
}
