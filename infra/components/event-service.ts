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
import {
  checksumOf,
  childOptions,
  containerSecurityContext,
  cronJobPolicy,
  httpProbe,
  ingressTls,
  labelsFor,
  podSecurityContext,
  resourcesOf,
  selectorFor,
  caBundleVolume,
} from './workload';

export const APP_NAME = 'event-service';
/** The container port serving the API, health and /metrics. */
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
  provider: k8s.Provider;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
  /** A managed database's CA bundle (ConfigMap name): mounted into the server, the migration and the maintenance job. */
  caBundle?: pulumi.Input<string>;
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

export class EventService extends pulumi.ComponentResource {
  readonly serviceName: pulumi.Output<string>;
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: EventServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:app:EventService', name, {}, opts);
    const ns = args.namespace;
    const port = Number(args.env.PORT ?? settings.PORT.default);
    const shutdownGraceMs = Number(args.env.SHUTDOWN_GRACE_MS ?? settings.SHUTDOWN_GRACE_MS.default);
    const o = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, args.provider, extra);
    const labels = { ...labelsFor(APP_NAME, 'server'), 'app.kubernetes.io/version': args.version };

    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      { metadata: { name: `${APP_NAME}-config`, namespace: ns, labels: labelsFor(APP_NAME) }, data: args.env },
      o(),
    );
    const secret = new k8s.core.v1.Secret(
      `${name}-secret`,
      { metadata: { name: `${APP_NAME}-secret`, namespace: ns, labels: labelsFor(APP_NAME) }, type: 'Opaque', stringData: args.secretEnv },
      o(),
    );
    // The jobs run DDL, so they connect as the owner; the service's pods never see the owner's password.
    const ownerSecret = new k8s.core.v1.Secret(
      `${name}-owner-db`,
      {
        metadata: { name: `${APP_NAME}-owner-db`, namespace: ns, labels: labelsFor(APP_NAME) },
        type: 'Opaque',
        stringData: args.ownerSecretEnv,
      },
      o(),
    );
    const ca = caBundleVolume(args.caBundle);
    const envFrom = [{ configMapRef: { name: config.metadata.name } }, { secretRef: { name: secret.metadata.name } }];
    const jobEnvFrom = [{ configMapRef: { name: config.metadata.name } }, { secretRef: { name: ownerSecret.metadata.name } }];
    const rollOn = { 'checksum/config': checksumOf(args.env), 'checksum/secret': checksumOf(args.secretEnv) };
    const jobRollOn = { 'checksum/config': checksumOf(args.env), 'checksum/secret': checksumOf(args.ownerSecretEnv) };
    const jobContainer = (command: string[]) => ({
      name: 'job',
      image: args.image,
      command,
      envFrom: jobEnvFrom,
      resources: resourcesOf(args.resources),
      securityContext: containerSecurityContext,
      volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...ca.volumeMounts],
    });
    const jobPod = (component: string) => ({
      metadata: { labels: labelsFor(APP_NAME, component) },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        securityContext: podSecurityContext(APP_UID),
        volumes: [{ name: 'tmp', emptyDir: {} }, ...ca.volumes],
      },
    });

    // A new image gets a new Job (Jobs are immutable); Pulumi waits for it to succeed before the Deployment rolls.
    // It starts only once PostgreSQL is ready (dependsOn, given by the caller) and waits MIGRATE_WAIT_S more itself.
    // A Job that failed (bad migration, database down too long) would otherwise wedge every later `pulumi up`,
    // which waits on that same failed Job: replaceUnready makes the next `pulumi up` replace it (delete first, since
    // the name is the same) and so run the migration again. No ttlSecondsAfterFinished: a Job deleted behind
    // Pulumi's back leaves its state pointing at nothing.
    const migrateName = pulumi
      .output(args.image)
      .apply((ref) => `${APP_NAME}-migrate-${createHash('sha256').update(ref).digest('hex').slice(0, 10)}`);
    const migration = new k8s.batch.v1.Job(
      `${name}-migrate`,
      {
        metadata: {
          name: migrateName,
          namespace: ns,
          labels: labelsFor(APP_NAME, 'migrate'),
          annotations: { 'pulumi.com/replaceUnready': 'true' },
        },
        spec: {
          backoffLimit: 3,
          activeDeadlineSeconds: 600,
          template: {
            metadata: jobPod('migrate').metadata,
            spec: { ...jobPod('migrate').spec, containers: [jobContainer(['node', 'dist/db/migrate.js'])] },
          },
        },
      },
      // Pulumi's own timeout outlasts the Job's activeDeadlineSeconds, so a stuck Job is reported as the Job's failure.
      o({ dependsOn: args.dependsOn, deleteBeforeReplace: true, customTimeouts: { create: '12m', update: '12m' } }),
    );

    const many = args.replicas > 1;
    const template = {
      metadata: {
        labels,
        annotations: {
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': String(port),
          'prometheus.io/path': '/metrics',
          ...rollOn,
        },
      },
      spec: {
        automountServiceAccountToken: false,
        securityContext: podSecurityContext(APP_UID),
        terminationGracePeriodSeconds: terminationGraceSeconds(shutdownGraceMs),
        ...(many ? placement(args.topologySpread, args.canary ? 'Rollout' : 'Deployment') : {}),
        containers: [
          {
            name: APP_NAME,
            image: args.image,
            command: ['node', 'dist/server.js'],
            ports: [{ name: APP_PORT_NAME, containerPort: port }],
            envFrom,
            resources: resourcesOf(args.resources),
            securityContext: containerSecurityContext,
            startupProbe: httpProbe('/healthz', 'http', 2, 30),
            livenessProbe: httpProbe('/healthz', 'http', 10, 3),
            readinessProbe: httpProbe('/readyz', 'http', 5, 2),
            // The kubelet waits (Kubernetes ≥ 1.30, the sleep action): no second process inside the memory limit.
            lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SECONDS } } },
            env: [{ name: 'NODE_OPTIONS', value: nodeOptions(args.resources.limits.memory) }],
            volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...ca.volumeMounts],
          },
        ],
        volumes: [{ name: 'tmp', emptyDir: {} }, ...ca.volumes],
      },
    };
    // With an autoscaler the HPA owns the count (minReplicas = configured replicas).
    const replicas = many ? undefined : args.replicas;
    if (args.canary)
      new CanaryRollout(
        `${name}-canary`,
        {
          ...args.canary,
          namespace: ns,
          name: APP_NAME,
          labels,
          selector: selectorFor(APP_NAME, 'server'),
          replicas,
          minReadySeconds: MIN_READY_SECONDS,
          template,
          port: { name: 'http', targetPort: APP_PORT_NAME },
          provider: args.provider,
          dependsOn: [migration],
        },
        { parent: this },
      );
    else
      new k8s.apps.v1.Deployment(
        `${name}-deployment`,
        {
          metadata: { name: APP_NAME, namespace: ns, labels },
          spec: {
            replicas,
            selector: { matchLabels: selectorFor(APP_NAME, 'server') },
            strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
            // A new pod must stay Ready this long before the rollout counts it and stops an old one.
            minReadySeconds: MIN_READY_SECONDS,
            template,
          },
        },
        o({ dependsOn: [migration] }),
      );

    const service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name: APP_NAME, namespace: ns, labels: labelsFor(APP_NAME) },
        spec: { selector: selectorFor(APP_NAME, 'server'), ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      },
      o(),
    );
    const tls = ingressTls(args.host, args.tls);
    new k8s.networking.v1.Ingress(
      `${name}-ingress`,
      {
        metadata: { name: APP_NAME, namespace: ns, labels: labelsFor(APP_NAME), annotations: tls.annotations },
        spec: {
          ingressClassName: args.ingressClassName,
          tls: tls.tls,
          rules: [
            {
              host: args.host,
              http: {
                paths: [
                  {
                    path: INGRESS_PREFIX,
                    pathType: 'Prefix',
                    backend: { service: { name: service.metadata.name, port: { name: 'http' } } },
                  },
                ],
              },
            },
          ],
        },
      },
      o(),
    );

    if (many) {
      new k8s.policy.v1.PodDisruptionBudget(
        `${name}-pdb`,
        {
          metadata: { name: APP_NAME, namespace: ns, labels: labelsFor(APP_NAME) },
          // One replica at a time, whatever the count: a drain never takes two at once.
          spec: { maxUnavailable: 1, selector: { matchLabels: selectorFor(APP_NAME, 'server') } },
        },
        o(),
      );
      new k8s.autoscaling.v2.HorizontalPodAutoscaler(
        `${name}-hpa`,
        {
          metadata: { name: APP_NAME, namespace: ns, labels: labelsFor(APP_NAME) },
          spec: {
            scaleTargetRef: args.canary
              ? { apiVersion: ROLLOUT_API_VERSION, kind: 'Rollout', name: APP_NAME }
              : { apiVersion: 'apps/v1', kind: 'Deployment', name: APP_NAME },
            minReplicas: args.replicas,
            maxReplicas: Math.max(args.maxReplicas, args.replicas),
            metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
          },
        },
        o(),
      );
    }

    new k8s.batch.v1.CronJob(
      `${name}-maintenance`,
      {
        metadata: { name: `${APP_NAME}-maintenance`, namespace: ns, labels: labelsFor(APP_NAME, 'maintenance') },
        spec: {
          schedule: args.maintenanceSchedule,
          ...cronJobPolicy,
          jobTemplate: {
            spec: {
              backoffLimit: 2,
              activeDeadlineSeconds: 1800,
              template: {
                metadata: { labels: labelsFor(APP_NAME, 'maintenance'), annotations: jobRollOn },
                spec: { ...jobPod('maintenance').spec, containers: [jobContainer(['node', 'dist/jobs/maintenance.js'])] },
              },
            },
          },
        },
      },
      o({ dependsOn: [migration] }),
    );

    this.serviceName = service.metadata.name;
    this.url = pulumi.output(`${args.tls ? 'https' : 'http'}://${args.host}`);
    this.registerOutputs({ serviceName: this.serviceName, url: this.url });
  }
}

const MIN_READY_SECONDS = 10;

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
