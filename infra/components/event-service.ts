/**
 * The event service: its configuration (ConfigMap + Secret from app/src/config.ts), the migration Job that
 * completes before the Deployment rolls, the Deployment (or with `canary`, an Argo Rollouts Rollout in its place),
 * Services, Ingress, the maintenance CronJob and, with more than one replica, a PodDisruptionBudget, a HorizontalPodAutoscaler and topology spread.
 * The public Ingress routes only the API (/api/): health, readiness and metrics stay inside the cluster.
 */
import { createHash } from 'node:crypto';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { settings, type SettingName } from '../../app/src/config';
import { INGRESS_PREFIX } from '../../app/src/http/route-table';
import type { Resources, TlsSetting } from '../config';
import { ROLLOUT_API_VERSION } from './canary';
import { CanaryRollout, type CanaryRolloutArgs } from './canary-rollout';
import { REVISION_LABEL } from '../semantics/model';
import { quantityBytes } from './redis';
import { hostIngress } from './ingress';
import {
  checksumOf,
  containerSecurityContext,
  cronJobPolicy,
  httpProbe,
  labelsFor,
  podSecurityContext,
  resourcesOf,
  selectorFor,
  caBundleVolume,
} from './workload';

export const APP_NAME = 'event-service';
/** The name of the container port serving the API, health and /metrics, and of the Services' port in front of it. */
export const APP_PORT_NAME = 'http';
/** The image's user; the image's files are readable by any uid. */
const APP_UID = 10001;
/** The pod stays in the Service's endpoints this long after SIGTERM is due, so load balancers stop sending first. */
export const PRE_STOP_SECONDS = 5;
/** Slack after the app's own shutdown grace before the kubelet sends SIGKILL. */
const KILL_MARGIN_SECONDS = 5;

export interface EventServiceArgs {
  namespace: pulumi.Input<string>;
  image: pulumi.Input<string>;
  version: pulumi.Input<string>;
  replicas: number;
  maxReplicas: number;
  resources: Resources;
  host: string;
  ingressClassName: string;
  tls?: TlsSetting;
  topologySpread: 'hard' | 'soft';
  maintenanceSchedule: string;
  /** Non-secret settings (defaults applied by the caller). */
  env: Record<string, pulumi.Input<string>>;
  /** Secret settings of the service, each one of app/src/config.ts marked secret (DATABASE_URL: the service's role). */
  secretEnv: Record<string, pulumi.Input<string>>;
  /** The migration's and the maintenance job's database settings: DATABASE_URL as the owner, SERVICE_DATABASE_URL. */
  ownerSecretEnv: { DATABASE_URL: pulumi.Input<string>; SERVICE_DATABASE_URL: pulumi.Input<string> };
  /** Present: a new pod template rolls out as a canary (Argo Rollouts) judged so; absent: the Deployment's rolling update. */
  canary?: Pick<CanaryRolloutArgs, 'thresholds' | 'prometheusAddress' | 'ownPrometheus'>;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
  /** A managed database's CA bundle (ConfigMap name): mounted into the server, the migration and the maintenance job. */
  caBundle?: pulumi.Input<string>;
}

/** The port the server listens on: its PORT setting, or the setting's default. */
export function appPort(env: Partial<Record<string, pulumi.Input<string>>>): number {
  return Number(env.PORT ?? settings.PORT.default);
}

/** terminationGracePeriodSeconds that covers the preStop pause and the app's SHUTDOWN_GRACE_MS. */
export function terminationGraceSeconds(shutdownGraceMs: number): number {
  return PRE_STOP_SECONDS + Math.ceil(shutdownGraceMs / 1000) + KILL_MARGIN_SECONDS;
}

/** The settings split as the app reads them: defaults applied, secrets apart. Throws if a setting has no value. */
export function appEnvironment(
  overrides: Partial<Record<SettingName, string>>,
  supplied: Record<string, pulumi.Input<string>>,
): { env: Record<string, pulumi.Input<string>>; secretEnv: Record<string, pulumi.Input<string>> } {
  const env: Record<string, pulumi.Input<string>> = {};
  const secretEnv: Record<string, pulumi.Input<string>> = {};
  for (const [name, s] of Object.entries(settings) as [SettingName, { default?: string; secret?: boolean }][]) {
    const value = supplied[name] ?? overrides[name] ?? s.default;
    if (value === undefined) throw new Error(`app setting ${name} has no value: the program must supply it (app/src/config.ts)`);
    (s.secret ? secretEnv : env)[name] = value;
  }
  return { env, secretEnv };
}

/** The ConfigMap and Secrets the pods read their settings from: the service's, and the jobs' (as the owner). */
interface Configuration {
  config: k8s.core.v1.ConfigMap;
  secret: k8s.core.v1.Secret;
  ownerSecret: k8s.core.v1.Secret;
}

/** The pieces both jobs (migration, maintenance) share: the container running `command` and the pod around it. */
function jobParts(args: EventServiceArgs, configuration: Configuration) {
  const ca = caBundleVolume(args.caBundle);
  return {
    container: (command: string[]) => ({
      name: 'job',
      image: args.image,
      command,
      envFrom: [
        { configMapRef: { name: configuration.config.metadata.name } },
        { secretRef: { name: configuration.ownerSecret.metadata.name } },
      ],
      resources: resourcesOf(args.resources),
      securityContext: containerSecurityContext,
      volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...ca.volumeMounts],
    }),
    podSpec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      securityContext: podSecurityContext(APP_UID),
      volumes: [{ name: 'tmp', emptyDir: {} }, ...ca.volumes],
    },
  };
}

/** The server's pod template: its checksums roll it when its configuration changes. */
function serverPodTemplate(args: EventServiceArgs, configuration: Configuration, labels: Record<string, pulumi.Input<string>>) {
  const shutdownGraceMs = Number(args.env.SHUTDOWN_GRACE_MS ?? settings.SHUTDOWN_GRACE_MS.default);
  const ca = caBundleVolume(args.caBundle);
  return {
    metadata: {
      labels,
      // Prometheus finds the pods by its scrape configuration (bundled) or a PodMonitor (operator), by port name.
      annotations: { 'checksum/config': checksumOf(args.env), 'checksum/secret': checksumOf(args.secretEnv) },
    },
    spec: {
      automountServiceAccountToken: false,
      securityContext: podSecurityContext(APP_UID),
      terminationGracePeriodSeconds: terminationGraceSeconds(shutdownGraceMs),
      ...(args.replicas > 1 ? placement(args.topologySpread, args.canary ? 'Rollout' : 'Deployment') : {}),
      containers: [
        {
          name: APP_NAME,
          image: args.image,
          command: ['node', 'dist/server.js'],
          ports: [{ name: APP_PORT_NAME, containerPort: appPort(args.env) }],
          envFrom: [
            { configMapRef: { name: configuration.config.metadata.name } },
            { secretRef: { name: configuration.secret.metadata.name } },
          ],
          resources: resourcesOf(args.resources),
          securityContext: containerSecurityContext,
          startupProbe: httpProbe('/healthz', APP_PORT_NAME, 2, 30),
          livenessProbe: httpProbe('/healthz', APP_PORT_NAME, 10, 3),
          readinessProbe: httpProbe('/readyz', APP_PORT_NAME, 5, 2),
          // The kubelet waits (Kubernetes ≥ 1.30, the sleep action): no second process inside the memory limit.
          lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SECONDS } } },
          env: [{ name: 'NODE_OPTIONS', value: nodeOptions(args.resources.limits.memory) }],
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...ca.volumeMounts],
        },
      ],
      volumes: [{ name: 'tmp', emptyDir: {} }, ...ca.volumes],
    },
  };
}

export class EventService extends pulumi.ComponentResource {
  readonly serviceName: pulumi.Output<string>;
  readonly url: pulumi.Output<string>;

  /** The Kubernetes objects are created as its children: give the provider in `opts`, they inherit it. */
  constructor(name: string, args: EventServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:app:EventService', name, {}, opts);
    const configuration = this.configuration(name, args);
    const migration = this.migrationJob(name, args, configuration);
    this.server(name, args, configuration, migration);
    const service = this.service(name, args);
    hostIngress(
      `${name}-ingress`,
      {
        name: APP_NAME,
        namespace: args.namespace,
        host: args.host,
        tls: args.tls,
        ingressClassName: args.ingressClassName,
        path: INGRESS_PREFIX,
        service: service.metadata.name,
        servicePort: APP_PORT_NAME,
      },
      { parent: this },
    );
    if (args.replicas > 1) {
      this.disruptionBudget(name, args);
      this.autoscaler(name, args);
    }
    this.maintenanceCronJob(name, args, configuration, migration);

    this.serviceName = service.metadata.name;
    this.url = pulumi.output(`${args.tls ? 'https' : 'http'}://${args.host}`);
    this.registerOutputs({ serviceName: this.serviceName, url: this.url });
  }

  private configuration(name: string, args: EventServiceArgs): Configuration {
    const metadata = (suffix: string) => ({ name: `${APP_NAME}-${suffix}`, namespace: args.namespace, labels: labelsFor(APP_NAME) });
    return {
      config: new k8s.core.v1.ConfigMap(`${name}-config`, { metadata: metadata('config'), data: args.env }, { parent: this }),
      secret: new k8s.core.v1.Secret(
        `${name}-secret`,
        { metadata: metadata('secret'), type: 'Opaque', stringData: args.secretEnv },
        { parent: this },
      ),
      // The jobs run DDL, so they connect as the owner; the service's pods never see the owner's password.
      ownerSecret: new k8s.core.v1.Secret(
        `${name}-owner-db`,
        { metadata: metadata('owner-db'), type: 'Opaque', stringData: args.ownerSecretEnv },
        { parent: this },
      ),
    };
  }

  /**
   * A new image, or a new service password (which the migration sets on the service's role), gets a new Job
   * (Jobs are immutable); Pulumi waits for it to succeed before the Deployment rolls.
   * It starts only once PostgreSQL is ready (dependsOn, given by the caller) and waits MIGRATE_WAIT_S more itself.
   * A Job that failed (bad migration, database down too long) would otherwise wedge every later `pulumi up`,
   * which waits on that same failed Job: replaceUnready makes the next `pulumi up` replace it (delete first, since
   * the name is the same) and so run the migration again. No ttlSecondsAfterFinished: a Job deleted behind
   * Pulumi's back leaves its state pointing at nothing.
   */
  private migrationJob(name: string, args: EventServiceArgs, configuration: Configuration): k8s.batch.v1.Job {
    const job = jobParts(args, configuration);
    return new k8s.batch.v1.Job(
      `${name}-migrate`,
      {
        metadata: {
          name: migrationJobName(args.image, args.ownerSecretEnv.SERVICE_DATABASE_URL),
          namespace: args.namespace,
          labels: labelsFor(APP_NAME, 'migrate'),
          annotations: { 'pulumi.com/replaceUnready': 'true' },
        },
        spec: {
          backoffLimit: 3,
          activeDeadlineSeconds: 600,
          template: {
            metadata: { labels: labelsFor(APP_NAME, 'migrate') },
            spec: { ...job.podSpec, containers: [job.container(['node', 'dist/db/migrate.js'])] },
          },
        },
      },
      // Pulumi's own timeout outlasts the Job's activeDeadlineSeconds, so a stuck Job is reported as the Job's failure.
      { parent: this, dependsOn: args.dependsOn, deleteBeforeReplace: true, customTimeouts: { create: '12m', update: '12m' } },
    );
  }

  /** The server's workload, rolled after the migration: a Deployment, or with `canary` an Argo Rollouts Rollout. */
  private server(name: string, args: EventServiceArgs, configuration: Configuration, migration: k8s.batch.v1.Job): void {
    const labels = { ...labelsFor(APP_NAME, 'server'), 'app.kubernetes.io/version': args.version };
    const template = serverPodTemplate(args, configuration, labels);
    // With an autoscaler the HPA owns the count (minReplicas = configured replicas).
    const replicas = args.replicas > 1 ? undefined : args.replicas;
    if (args.canary)
      new CanaryRollout(
        `${name}-canary`,
        {
          ...args.canary,
          namespace: args.namespace,
          name: APP_NAME,
          labels,
          selector: selectorFor(APP_NAME, 'server'),
          replicas,
          minReadySeconds: MIN_READY_SECONDS,
          template,
          port: { name: APP_PORT_NAME, targetPort: APP_PORT_NAME },
          dependsOn: [migration],
        },
        { parent: this },
      );
    else
      new k8s.apps.v1.Deployment(
        `${name}-deployment`,
        {
          metadata: { name: APP_NAME, namespace: args.namespace, labels },
          spec: {
            replicas,
            selector: { matchLabels: selectorFor(APP_NAME, 'server') },
            strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
            // A new pod must stay Ready this long before the rollout counts it and stops an old one.
            minReadySeconds: MIN_READY_SECONDS,
            template,
          },
        },
        { parent: this, dependsOn: [migration] },
      );
  }

  /** The Service of all server pods, which the Ingress routes to. */
  private service(name: string, args: EventServiceArgs): k8s.core.v1.Service {
    return new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name: APP_NAME, namespace: args.namespace, labels: labelsFor(APP_NAME) },
        spec: { selector: selectorFor(APP_NAME, 'server'), ports: [{ name: APP_PORT_NAME, port: 80, targetPort: APP_PORT_NAME }] },
      },
      { parent: this },
    );
  }

  /** One replica at a time, whatever the count: a drain never takes two at once. */
  private disruptionBudget(name: string, args: EventServiceArgs): void {
    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      {
        metadata: { name: APP_NAME, namespace: args.namespace, labels: labelsFor(APP_NAME) },
        spec: { maxUnavailable: 1, selector: { matchLabels: selectorFor(APP_NAME, 'server') } },
      },
      { parent: this },
    );
  }

  /** From the configured replicas up to maxReplicas on CPU; it scales the Rollout where one replaces the Deployment. */
  private autoscaler(name: string, args: EventServiceArgs): void {
    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      `${name}-hpa`,
      {
        metadata: { name: APP_NAME, namespace: args.namespace, labels: labelsFor(APP_NAME) },
        spec: {
          scaleTargetRef: args.canary
            ? { apiVersion: ROLLOUT_API_VERSION, kind: 'Rollout', name: APP_NAME }
            : { apiVersion: 'apps/v1', kind: 'Deployment', name: APP_NAME },
          minReplicas: args.replicas,
          maxReplicas: Math.max(args.maxReplicas, args.replicas),
          metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
        },
      },
      { parent: this },
    );
  }

  /** The scheduled maintenance job (partitions ahead and past retention, daily counts), as the owner, after the migration. */
  private maintenanceCronJob(name: string, args: EventServiceArgs, configuration: Configuration, migration: k8s.batch.v1.Job): void {
    const job = jobParts(args, configuration);
    const rollOn = { 'checksum/config': checksumOf(args.env), 'checksum/secret': checksumOf(args.ownerSecretEnv) };
    new k8s.batch.v1.CronJob(
      `${name}-maintenance`,
      {
        metadata: { name: `${APP_NAME}-maintenance`, namespace: args.namespace, labels: labelsFor(APP_NAME, 'maintenance') },
        spec: {
          schedule: args.maintenanceSchedule,
          ...cronJobPolicy,
          jobTemplate: {
            spec: {
              backoffLimit: 2,
              activeDeadlineSeconds: 1800,
              template: {
                metadata: { labels: labelsFor(APP_NAME, 'maintenance'), annotations: rollOn },
                spec: { ...job.podSpec, containers: [job.container(['node', 'dist/jobs/maintenance.js'])] },
              },
            },
          },
        },
      },
      { parent: this, dependsOn: [migration] },
    );
  }
}

const MIN_READY_SECONDS = 10;

/**
 * The migration Job's name: a hash of what it runs (the image) and of what it applies (the service's URL, whose
 * password it sets on the service's role), so rotating that password runs the migration again before the pods that
 * use it roll. Ten hex digits of a SHA-256 over a 32-character random password reveal nothing of it: the name is
 * left in clear (a secret name would hide which Job runs from every preview).
 */
export function migrationJobName(image: pulumi.Input<string>, serviceDatabaseUrl: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.unsecret(
    pulumi.all([image, serviceDatabaseUrl]).apply(([ref, url]) => {
      const hash = createHash('sha256').update(ref).update('\0').update(url).digest('hex');
      return `${APP_NAME}-migrate-${hash.slice(0, 10)}`;
    }),
  );
}

/**
 * Where the server's replicas go. Each term counts only pods of the same revision (the label the workload's
 * controller puts on each revision's pods: pod-template-hash, or rollouts-pod-template-hash for a Rollout), so a
 * rolling update's surge pod is never kept off a node by the replicas it replaces; tainted nodes the pods cannot
 * run on are not spread domains (nodeTaintsPolicy: Honor), so an empty control-plane node does not hold the skew.
 * Hard: never two replicas of a revision on one node (required anti-affinity: a spread of maxSkew 1 still
 * allows 2/1/1); a replica waits Pending rather than double up. Zones stay a preference.
 */
function placement(
  spread: 'hard' | 'soft',
  workload: keyof typeof REVISION_LABEL,
): Pick<k8s.types.input.core.v1.PodSpec, 'topologySpreadConstraints' | 'affinity'> {
  const labelSelector = { matchLabels: selectorFor(APP_NAME, 'server') };
  const matchLabelKeys = [REVISION_LABEL[workload]];
  return {
    topologySpreadConstraints: (
      [
        ['kubernetes.io/hostname', spread === 'hard' ? 'DoNotSchedule' : 'ScheduleAnyway'],
        ['topology.kubernetes.io/zone', 'ScheduleAnyway'],
      ] as const
    ).map(([topologyKey, whenUnsatisfiable]) => ({
      maxSkew: 1,
      topologyKey,
      whenUnsatisfiable,
      labelSelector,
      matchLabelKeys,
      nodeTaintsPolicy: 'Honor',
    })),
    ...(spread === 'hard'
      ? {
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector, matchLabelKeys }],
            },
          },
        }
      : {}),
  };
}

/**
 * V8's heap flags from the container's memory limit (they replace the image's NODE_OPTIONS). Outside the old
 * generation the container holds the young generation (3 × 16 MiB semi-spaces), request bodies in flight
 * (off-heap Buffers, up to 64 × 1 MiB) and the process' native memory: NON_HEAP_MIB in a large container, half
 * of a small one. A constant would let the heap grow past a small limit (1024 MiB in 512Mi: the kernel kills the
 * pod before V8 collects).
 */
export const NON_HEAP_MIB = 192;
export function oldSpaceMiB(memoryLimit: string): number {
  const limitMiB = Math.floor(quantityBytes(memoryLimit) / 2 ** 20);
  return Math.max(Math.floor(limitMiB / 2), limitMiB - NON_HEAP_MIB);
}
export function nodeOptions(memoryLimit: string): string {
  return `--max-semi-space-size=16 --max-old-space-size=${oldSpaceMiB(memoryLimit)}`;
}
