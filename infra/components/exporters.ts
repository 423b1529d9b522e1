/**
 * The dependency exporters Prometheus scrapes for the server-side view of PostgreSQL and Redis: each its own
 * Deployment and Service, so they work alike for the in-cluster databases and an external PostgreSQL (the
 * exporter connects out; only Prometheus may connect in). The connection URL is a Secret, never in the spec.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { ThirdPartyService } from '../config';
import { POSTGRES_EXPORTER_JOB, REDIS_EXPORTER_JOB } from '../../monitoring/src';
import type { KubernetesComponentOptions } from './options';
import { objectMetadata, singleReplicaWorkload } from './pod';
import { caBundleVolume, checksumOf, DATABASE_CA_FILE, httpProbe } from './workload';

/** Workload and Service names: the scrape job names of the monitoring contract. */
export const POSTGRES_EXPORTER_NAME = POSTGRES_EXPORTER_JOB;
export const POSTGRES_EXPORTER_PORT = 9187;
export const REDIS_EXPORTER_NAME = REDIS_EXPORTER_JOB;
export const REDIS_EXPORTER_PORT = 9121;
const UID = 65534;

export interface ExporterArgs extends ThirdPartyService {
  namespace: pulumi.Input<string>;
}

/** One exporter: a Secret with its connection environment, a Deployment reading it, a Service for Prometheus. */
class Exporter extends pulumi.ComponentResource {
  constructor(
    type: string,
    name: string,
    spec: { workload: string; port: number; env: Record<string, pulumi.Input<string>>; caBundle?: pulumi.Input<string> },
    args: ExporterArgs,
    opts: KubernetesComponentOptions,
  ) {
    super(type, name, {}, opts);
    const secretName = `${spec.workload}-connection`;
    new k8s.core.v1.Secret(
      `${name}-connection`,
      { metadata: objectMetadata(spec.workload, args.namespace, secretName), stringData: spec.env },
      { parent: this },
    );
    const ca = caBundleVolume(spec.caBundle);
    singleReplicaWorkload(
      name,
      {
        name: spec.workload,
        namespace: args.namespace,
        servicePort: 'http',
        uid: UID,
        annotations: { 'checksum/secret': checksumOf(spec.env) },
        container: {
          name: 'exporter',
          image: args.image,
          ports: [{ name: 'http', containerPort: spec.port }],
          envFrom: [{ secretRef: { name: secretName } }],
          resources: args.resources,
          livenessProbe: httpProbe('/', 'http', 20, 3),
          readinessProbe: httpProbe('/', 'http', 10, 2),
          volumeMounts: ca.volumeMounts,
        },
        volumes: ca.volumes,
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}

/** prometheus-postgres-exporter against the owner's URL (in-cluster or external). */
export class PostgresExporter extends Exporter {
  constructor(
    name: string,
    args: ExporterArgs & { databaseUrl: pulumi.Input<string>; caBundle?: pulumi.Input<string> },
    opts: KubernetesComponentOptions,
  ) {
    super(
      'event-stack:monitoring:PostgresExporter',
      name,
      {
        workload: POSTGRES_EXPORTER_NAME,
        port: POSTGRES_EXPORTER_PORT,
        env: {
          DATA_SOURCE_NAME: pulumi.secret(pulumi.output(args.databaseUrl).apply((u) => exporterDataSource(u, !!args.caBundle))),
          PG_EXPORTER_WEB_LISTEN_ADDRESS: `:${POSTGRES_EXPORTER_PORT}`,
        },
        caBundle: args.caBundle,
      },
      args,
      opts,
    );
  }
}

/** prometheus-redis-exporter against the stack's Redis (password in the URL). */
export class RedisExporter extends Exporter {
  constructor(name: string, args: ExporterArgs & { redisUrl: pulumi.Input<string> }, opts: KubernetesComponentOptions) {
    super(
      'event-stack:monitoring:RedisExporter',
      name,
      {
        workload: REDIS_EXPORTER_NAME,
        port: REDIS_EXPORTER_PORT,
        env: { REDIS_ADDR: pulumi.secret(pulumi.output(args.redisUrl)), REDIS_EXPORTER_WEB_LISTEN_ADDRESS: `:${REDIS_EXPORTER_PORT}` },
      },
      args,
      opts,
    );
  }
}

/**
 * The exporter's connection string: the database URL unchanged, except that an in-cluster database (no TLS)
 * gets sslmode=disable when the URL names none, because the exporter's driver would otherwise require TLS.
 */
export function exporterDataSource(databaseUrl: string, caBundle = false): string {
  const url = new URL(databaseUrl);
  // The managed database's own CA, as the app's DATABASE_CA_FILE: its driver (lib/pq) verifies host and chain.
  if (caBundle) {
    url.searchParams.set('sslmode', 'verify-full');
    url.searchParams.set('sslrootcert', DATABASE_CA_FILE);
  }
  if (!url.searchParams.has('sslmode') && url.hostname.endsWith('.svc.cluster.local')) url.searchParams.set('sslmode', 'disable');
  return url.toString();
}
