/**
 * The policy rules: what may be deployed, written once as plain functions over Kubernetes objects. The policy
 * pack (`pack.ts`, applied by `make preview/up`), `make manifests` and the offline tests all run exactly these.
 * What the cluster itself will do with the objects (Pod Security admission, routing, selection…) is not a rule
 * here but a check of infra/semantics. Each rule returns one message per violation, naming the object and container.
 */
import { settings } from '../../app/src/config';
import {
  containersOf,
  hostsWithoutTls,
  ingressPaths,
  podTemplateOf,
  type Container,
  type KubernetesObject,
  type PodSpec,
} from '../kube/model';
import { INGRESS_PREFIX } from '../../app/src/http/route-table';
import { postgresSettings } from '../postgres/settings';

export interface Rule {
  name: string;
  description: string;
  check(obj: KubernetesObject): string[];
  /** Mandatory only in these stacks and advisory in the others; absent: mandatory everywhere. */
  mandatoryIn?: readonly string[];
  /** A step of the release (`make pin-images`), not a defect of the program: `make manifests` lists it, `pulumi up` refuses it. */
  releaseStep?: boolean;
}

/** Stages whose Ingresses must serve TLS (bearer tokens must not cross the network in clear). */
export const TLS_REQUIRED_STAGES = ['staging', 'prod'];

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are walked structurally here. */

/** The label that marks the pods running the event service's image. */
export const APP_LABEL = { key: 'app.kubernetes.io/name', value: 'event-service' };
const LONG_RUNNING = new Set(['Deployment', 'Rollout', 'StatefulSet', 'DaemonSet', 'ReplicaSet']);
const DIGEST = /@sha256:[0-9a-f]{64}$/;

const where = (obj: KubernetesObject, container?: { name?: string }) =>
  `${obj.kind} ${obj.metadata.name}${container ? ` container ${container.name ?? '?'}` : ''}`;

/** A rule over every container of every workload; `problem` returns why a container breaks it. */
function containerRule(
  name: string,
  description: string,
  problem: (c: Container, pod: PodSpec, obj: KubernetesObject) => string | undefined,
): Rule {
  return {
    name,
    description,
    check(obj) {
      const pod = podTemplateOf(obj);
      if (!pod) return [];
      return containersOf(pod.spec).flatMap((c) => {
        const p = problem(c, pod.spec, obj);
        return p ? [`${where(obj, c)}: ${p}`] : [];
      });
    },
  };
}

export function imageProblem(image: unknown): string | undefined {
  if (typeof image !== 'string' || image === '') return 'has no image';
  if (DIGEST.test(image)) return undefined;
  const last = image.slice(image.lastIndexOf('/') + 1);
  if (!last.includes(':')) return `image ${image} has no tag (an implicit "latest")`;
  if (last.endsWith(':latest')) return `image ${image} uses "latest"`;
  return undefined;
}

/** ConfigMap keys and values that look like credentials. */
const SECRET_SETTINGS = new Set(Object.entries(settings).flatMap(([k, s]) => ((s as { secret?: boolean }).secret ? [k] : [])));
const SECRET_KEY = /(password|passwd|secret|token|api[-_]?key|private[-_]?key|credential|dsn)/i;
const URL_WITH_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:[^\s/@]+@/i;
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

export const rules: Rule[] = [
  containerRule('read-only-root-filesystem', 'Every container has a read-only root filesystem (writable paths are volumes).', (c) =>
    c.securityContext?.readOnlyRootFilesystem === true ? undefined : 'readOnlyRootFilesystem is not true',
  ),
  containerRule('resource-requests-and-limits', 'Every container requests and limits CPU and memory.', (c) => {
    const missing = ['requests', 'limits'].flatMap((k) => ['cpu', 'memory'].filter((r) => !c.resources?.[k]?.[r]).map((r) => `${k}.${r}`));
    return missing.length ? `missing resources ${missing.join(', ')}` : undefined;
  }),
  containerRule('probes', 'Every container of a long-running workload has liveness and readiness probes.', (c, _pod, obj) => {
    if (!LONG_RUNNING.has(obj.kind)) return undefined;
    const missing = ['livenessProbe', 'readinessProbe'].filter((p) => !c[p]);
    return missing.length ? `missing ${missing.join(' and ')}` : undefined;
  }),
  containerRule('no-latest-images', 'Every image names an explicit version (a tag other than latest, or a digest).', (c) =>
    imageProblem(c.image),
  ),
  {
    name: 'app-image-pinned-by-digest',
    description: 'The event service runs its image by digest (<repository>@sha256:…), the same digest in every stage.',
    check(obj) {
      const pod = podTemplateOf(obj);
      if (!pod || pod.labels[APP_LABEL.key] !== APP_LABEL.value) return [];
      return containersOf(pod.spec)
        .filter((c) => typeof c.image !== 'string' || !DIGEST.test(c.image))
        .map((c) => `${where(obj, c)}: image ${c.image} is not pinned by digest`);
    },
  },
  {
    name: 'third-party-images-pinned-by-digest',
    description:
      'Third-party images run as tag@sha256:… (`make pin-images ENV=<stack>`), so a re-pushed tag cannot change what runs. Mandatory in prod, advisory elsewhere.',
    mandatoryIn: ['prod'],
    releaseStep: true,
    check(obj) {
      const pod = podTemplateOf(obj);
      if (!pod || pod.labels[APP_LABEL.key] === APP_LABEL.value) return [];
      return containersOf(pod.spec)
        .filter((c) => typeof c.image === 'string' && !DIGEST.test(c.image))
        .map((c) => `${where(obj, c)}: image ${c.image} is pinned by tag only: run \`make pin-images ENV=<stack>\`, review, commit`);
    },
  },
  {
    name: 'no-plaintext-secrets-in-configmaps',
    description: 'ConfigMaps hold no secret settings, credential-like keys, URLs with passwords or private keys (use a Secret).',
    check(obj) {
      if (obj.kind !== 'ConfigMap') return [];
      return Object.entries(obj.data ?? {}).flatMap(([key, value]) => {
        const v = typeof value === 'string' ? value : '';
        if (SECRET_SETTINGS.has(key)) return [`${where(obj)}: key ${key} is a secret setting of app/src/config.ts`];
        if (SECRET_KEY.test(key)) return [`${where(obj)}: key ${key} looks like a credential`];
        if (URL_WITH_PASSWORD.test(v)) return [`${where(obj)}: key ${key} holds a URL with a password`];
        if (PRIVATE_KEY.test(v)) return [`${where(obj)}: key ${key} holds a private key`];
        return [];
      });
    },
  },
  {
    name: 'ingress-tls',
    description: `Every host of every Ingress is served over TLS from a named Secret (mandatory in ${TLS_REQUIRED_STAGES.join(' and ')}).`,
    mandatoryIn: TLS_REQUIRED_STAGES,
    check(obj) {
      if (obj.kind !== 'Ingress') return [];
      return hostsWithoutTls(obj).map((h) => `${where(obj)}: host ${h} has no TLS (set event-stack:app.tls / grafana.tls)`);
    },
  },
  {
    name: 'ingress-routes-only-the-api',
    description: 'The public Ingress of the event service routes only /api/: health, readiness and metrics stay inside the cluster.',
    check(obj) {
      if (obj.kind !== 'Ingress') return [];
      return ingressPaths(obj)
        .filter((p) => p.backend?.service?.name === APP_LABEL.value && !p.path.startsWith(INGRESS_PREFIX))
        .map((p) => `${where(obj)}: path ${p.path} routes more than ${INGRESS_PREFIX} to the event service`);
    },
  },
  {
    name: 'namespace-pod-security-restricted',
    description: 'The namespace enforces the Pod Security Admission "restricted" profile.',
    check(obj) {
      if (obj.kind !== 'Namespace') return [];
      return obj.metadata.labels?.['pod-security.kubernetes.io/enforce'] === 'restricted'
        ? []
        : [`${where(obj)}: label pod-security.kubernetes.io/enforce is not "restricted"`];
    },
  },
  {
    name: 'app-memory-request-equals-limit',
    description: `The event service requests the memory it may use (request = limit), so it is never the first pod evicted under node pressure (mandatory in ${TLS_REQUIRED_STAGES.join(' and ')}).`,
    mandatoryIn: TLS_REQUIRED_STAGES,
    check(obj) {
      const pod = podTemplateOf(obj);
      if (!pod || !LONG_RUNNING.has(obj.kind) || pod.labels[APP_LABEL.key] !== APP_LABEL.value) return [];
      return containersOf(pod.spec)
        .filter((c) => c.resources?.requests?.memory !== c.resources?.limits?.memory)
        .map((c) => `${where(obj, c)}: requests ${c.resources?.requests?.memory} of memory but may use ${c.resources?.limits?.memory}`);
    },
  },
];

/** A rule over a stack's objects together: a fact that no single object holds. */
export interface StackRule {
  name: string;
  description: string;
  check(objects: KubernetesObject[]): string[];
}

const SUPERUSER_RESERVED_CONNECTIONS = 3;
/** The maintenance job's connections (docs/operations.md), the migration's and the PostgreSQL exporter's. */
const OTHER_CONNECTIONS = 2 + 1 + 1;

export const stackRules: StackRule[] = [
  {
    name: 'database-connections-fit',
    description:
      "At the autoscaler's maximum, every replica's pools (DB_POOL_MAX + DB_READ_POOL_MAX + the readiness probe's) plus the jobs and the exporter fit PostgreSQL's max_connections (infra/postgres/postgresql.conf; a managed database takes the same value).",
    check(objects) {
      const server = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === APP_LABEL.value);
      if (!server) return [];
      const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler' && (o.spec as any)?.scaleTargetRef?.name === APP_LABEL.value);
      const replicas: number = (hpa?.spec as any)?.maxReplicas ?? (server.spec as any)?.replicas ?? 1;
      const env = (objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === `${APP_LABEL.value}-config`)?.data ?? {}) as Record<
        string,
        string
      >;
      const setting = (name: 'DB_POOL_MAX' | 'DB_READ_POOL_MAX') => Number(env[name] ?? settings[name].default);
      const perReplica = setting('DB_POOL_MAX') + setting('DB_READ_POOL_MAX') + 1;
      const needed = replicas * perReplica + OTHER_CONNECTIONS + SUPERUSER_RESERVED_CONNECTIONS;
      const maxConnections = Number(new Map(postgresSettings()).get('max_connections') ?? 100);
      return needed > maxConnections
        ? [
            `${replicas} replicas × ${perReplica} connections + ${OTHER_CONNECTIONS} (jobs, exporter) + ${SUPERUSER_RESERVED_CONNECTIONS} reserved = ${needed} exceed max_connections ${maxConnections}: raise it in infra/postgres/postgresql.conf (and the managed database's parameter group), or lower maxReplicas or the pools`,
          ]
        : [];
    },
  },
];

export type EnforcementLevel = 'mandatory' | 'advisory';

/** How a deploy of `stack` enforces the rule (an unknown stack: mandatory only the rules mandatory everywhere). */
export function enforcementIn(rule: Rule, stack?: string): EnforcementLevel {
  return rule.mandatoryIn === undefined || (stack !== undefined && rule.mandatoryIn.includes(stack)) ? 'mandatory' : 'advisory';
}

/**
 * Every violation of every rule that a deploy of `stack` refuses, as "rule: message"; with `releaseSteps: false`,
 * without the rules that are release steps (what `make manifests` fails on).
 */
export function violations(objects: KubernetesObject[], stack?: string, { releaseSteps = true } = {}): string[] {
  const refused = rules.filter((rule) => enforcementIn(rule, stack) === 'mandatory' && (releaseSteps || !rule.releaseStep));
  return [
    ...objects.flatMap((obj) => refused.flatMap((rule) => rule.check(obj).map((m) => `${rule.name}: ${m}`))),
    ...stackRules.flatMap((rule) => rule.check(objects).map((m) => `${rule.name}: ${m}`)),
  ];
}
