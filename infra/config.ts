/**
 * The typed settings of one stack (Pulumi.<stack>.yaml), read and checked before any resource is declared.
 * Every problem is collected and reported at once, each line naming its `event-stack:<key>`.
 */
import * as pulumi from '@pulumi/pulumi';
import { settings, type SettingName } from '../app/src/config';
import { NEVER_PROMOTED } from '../tools/promote/stages';

export interface Resources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

export interface ThirdPartyService {
  image: string;
  resources: Resources;
}

/** qa/staging/prod run an image that `make promote` pinned by digest; dev builds its own. */
export type ImageSource =
  { kind: 'pinned'; ref: string; version: string } | { kind: 'build'; repository: string; dockerfile: string; context: string };

export interface AlertReceivers {
  pager: string;
  ticket: string;
  /** The external dead man's switch that receives the always-firing Watchdog (alerts/alertmanager.yml). */
  heartbeat: string;
}

export interface StackConfig {
  namespace: string;
  kubeContext?: string;
  image: ImageSource;
  app: {
    replicas: number;
    maxReplicas: number;
    resources: Resources;
    host: string;
    tlsSecretName?: string;
    maintenanceSchedule: string;
    /** Non-secret settings of app/src/config.ts that differ from their defaults. */
    env: Partial<Record<SettingName, string>>;
  };
  ingress: { className: string; namespace: string };
  postgres:
    | ({ external: false; storage: string; backup: { schedule: string; keep: number; storage: string } } & ThirdPartyService)
    | { external: true; databaseUrl: pulumi.Output<string> };
  redis: ThirdPartyService;
  prometheus: ThirdPartyService & { retention: string; storage: string };
  pushgateway: ThirdPartyService;
  /** prometheus-postgres-exporter and prometheus-redis-exporter (their own Deployments). */
  postgresExporter: ThirdPartyService;
  redisExporter: ThirdPartyService;
  /** Webhook URLs of the receivers of alerts/alertmanager.yml (critical → pager, warning → ticket), secret. */
  alertmanager: ThirdPartyService & { receivers: pulumi.Output<AlertReceivers> };
  grafana: ThirdPartyService & { storage?: string; host?: string };
}

export class StackConfigError extends Error {
  constructor(
    readonly stackName: string,
    readonly problems: string[],
  ) {
    super(`stack "${stackName}" is misconfigured (Pulumi.${stackName}.yaml):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'StackConfigError';
  }
}

const DIGEST_REF = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*@sha256:[0-9a-f]{64}$/;
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;
const QUANTITY = /^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const DURATION = /^\d+[smhdwy]$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const HOST = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Why a third-party image reference is unacceptable, or undefined when it names an explicit version. */
export function thirdPartyImageProblem(image: string): string | undefined {
  if (image.includes('@sha256:')) return undefined;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const tag = lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : undefined;
  if (!tag) return `"${image}" has no tag: pin an explicit version (e.g. ${image}:1.2.3)`;
  if (tag === 'latest') return `"${image}" uses "latest": pin an explicit version`;
  return undefined;
}

/** Why an app image reference is not a digest-pinned one, or undefined. */
export function pinnedRefProblem(ref: string): string | undefined {
  if (DIGEST_REF.test(ref)) return undefined;
  if (/:latest(@|$)/.test(ref) || !ref.includes('@'))
    return `"${ref}" is a tag, not a digest: pin it as <repository>@sha256:<64 hex> (make promote writes it)`;
  return `"${ref}" is not of the form <repository>@sha256:<64 hex>`;
}

/** Reads and checks the stack's configuration; throws StackConfigError listing every problem. */
export function readStackConfig(config = new pulumi.Config(), stack = pulumi.getStack()): StackConfig {
  const problems: string[] = [];
  const key = (k: string) => `${config.name}:${k}`;

  function obj<T>(k: string, required = true): Record<string, unknown> | undefined {
    let value: unknown;
    try {
      value = config.getObject<T>(k);
    } catch {
      problems.push(`${key(k)}: is not valid YAML/JSON`);
      return undefined;
    }
    if (value === undefined) {
      if (required) problems.push(`${key(k)}: required but not set`);
      return undefined;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`${key(k)}: must be a map`);
      return undefined;
    }
    return value as Record<string, unknown>;
  }
  function str(o: Record<string, unknown> | undefined, path: string, field: string, check?: RegExp, fallback?: string): string {
    const v = o?.[field] ?? fallback;
    if (o === undefined && fallback === undefined) return '';
    if (typeof v !== 'string' || v === '') problems.push(`${path}.${field}: required string`);
    else if (check && !check.test(v)) problems.push(`${path}.${field}: "${v}" does not match ${check}`);
    return typeof v === 'string' ? v : '';
  }
  function int(o: Record<string, unknown> | undefined, path: string, field: string, min: number, fallback?: number): number {
    const v = o?.[field] ?? fallback;
    if (o === undefined && fallback === undefined) return 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) problems.push(`${path}.${field}: must be an integer ≥ ${min}`);
    return typeof v === 'number' ? v : 0;
  }
  function resources(o: Record<string, unknown> | undefined, path: string): Resources {
    const r = (o?.resources ?? undefined) as Record<string, Record<string, unknown>> | undefined;
    if (o !== undefined && (typeof r !== 'object' || r === null)) {
      problems.push(`${path}.resources: required map {requests: {cpu, memory}, limits: {cpu, memory}}`);
    }
    const part = (which: 'requests' | 'limits') => {
      const p = r?.[which] as Record<string, unknown> | undefined;
      if (r && typeof p !== 'object') problems.push(`${path}.resources.${which}: required map {cpu, memory}`);
      return {
        cpu: str(p, `${path}.resources.${which}`, 'cpu', QUANTITY),
        memory: str(p, `${path}.resources.${which}`, 'memory', QUANTITY),
      };
    };
    return { requests: part('requests'), limits: part('limits') };
  }
  function thirdParty(k: string): { raw?: Record<string, unknown>; service: ThirdPartyService } {
    const raw = obj(k);
    const image = str(raw, key(k), 'image');
    const problem = image ? thirdPartyImageProblem(image) : undefined;
    if (problem) problems.push(`${key(k)}.image: ${problem}`);
    return { raw, service: { image, resources: resources(raw, key(k)) } };
  }

  const namespace = config.get('namespace');
  if (!namespace) problems.push(`${key('namespace')}: required but not set`);
  else if (!DNS_LABEL.test(namespace)) problems.push(`${key('namespace')}: "${namespace}" is not a valid namespace name`);

  const neverPromoted = config.get('image') === NEVER_PROMOTED;
  if (neverPromoted)
    problems.push(
      `${key('image')}: stack ${stack} was never promoted, so it has no image to run. Promote a version first: make promote VERSION=x.y.z TO=${stack}`,
    );
  const pinned = neverPromoted ? undefined : obj('image', false);
  const build = obj('build', false);
  let image: ImageSource = { kind: 'pinned', ref: '', version: '' };
  if (pinned && build) problems.push(`${key('image')} and ${key('build')}: set only one (a stack either pins an image or builds it)`);
  else if (pinned) {
    const ref = str(pinned, key('image'), 'ref');
    const problem = ref ? pinnedRefProblem(ref) : undefined;
    if (problem) problems.push(`${key('image')}.ref: ${problem}`);
    image = { kind: 'pinned', ref, version: str(pinned, key('image'), 'version', SEMVER) };
  } else if (build) {
    image = {
      kind: 'build',
      repository: str(build, key('build'), 'repository', /^[a-z0-9][a-z0-9._\-/:]*$/),
      dockerfile: str(build, key('build'), 'dockerfile', undefined, 'app/Dockerfile'),
      context: str(build, key('build'), 'context', undefined, '.'),
    };
    if (image.repository.includes('@') || /:[^/]*$/.test(image.repository.replace(/^[^/]*\//, '')))
      problems.push(`${key('build')}.repository: give the repository without tag or digest (the tag is the version)`);
  } else if (!neverPromoted) {
    problems.push(
      `${key('image')}: required but not set (qa/staging/prod pin {ref: <repository>@sha256:…, version}; dev sets ${key('build')})`,
    );
  }

  const appRaw = obj('app');
  const replicas = int(appRaw, key('app'), 'replicas', 1);
  const maxReplicas = int(appRaw, key('app'), 'maxReplicas', 1, replicas);
  if (appRaw && maxReplicas < replicas) problems.push(`${key('app')}.maxReplicas: must be ≥ replicas (${replicas})`);
  const env: Partial<Record<SettingName, string>> = {};
  const envRaw = appRaw?.env ?? {};
  if (typeof envRaw !== 'object' || envRaw === null) problems.push(`${key('app')}.env: must be a map of setting → value`);
  else
    for (const [name, value] of Object.entries(envRaw)) {
      const setting = (settings as Record<string, { secret?: boolean; schema: { safeParse(v: unknown): { success: boolean } } }>)[name];
      if (!setting) problems.push(`${key('app')}.env.${name}: not a setting of app/src/config.ts`);
      else if (setting.secret) problems.push(`${key('app')}.env.${name}: is a secret; the program supplies it from a Kubernetes Secret`);
      else if (!setting.schema.safeParse(String(value)).success)
        problems.push(`${key('app')}.env.${name}: invalid value ${JSON.stringify(value)}`);
      else env[name as SettingName] = String(value);
    }
  const app: StackConfig['app'] = {
    replicas,
    maxReplicas,
    resources: resources(appRaw, key('app')),
    host: str(appRaw, key('app'), 'host', HOST),
    tlsSecretName: typeof appRaw?.tlsSecretName === 'string' ? appRaw.tlsSecretName : undefined,
    maintenanceSchedule: str(appRaw, key('app'), 'maintenanceSchedule', /^(\S+\s+){4}\S+$/, '17 3 * * *'),
    env,
  };

  const ingressRaw = obj('ingress');
  const ingress = {
    className: str(ingressRaw, key('ingress'), 'className'),
    namespace: str(ingressRaw, key('ingress'), 'namespace', DNS_LABEL),
  };

  const pgRaw = obj('postgres');
  let postgres: StackConfig['postgres'];
  if (pgRaw?.external === true) {
    const databaseUrl = config.getSecret('databaseUrl');
    if (databaseUrl === undefined)
      problems.push(
        `${key('databaseUrl')}: required secret when ${key('postgres')}.external is true (pulumi config set --secret databaseUrl postgres://…)`,
      );
    postgres = { external: true, databaseUrl: databaseUrl ?? pulumi.output('') };
  } else {
    const { raw, service } = thirdParty('postgres');
    // The in-cluster database is backed up by a CronJob (pg_dump onto a volume of its own).
    const backupRaw = raw?.backup as Record<string, unknown> | undefined;
    if (raw && (typeof backupRaw !== 'object' || backupRaw === null))
      problems.push(`${key('postgres')}.backup: required map {schedule, keep, storage} (the nightly pg_dump and how many dumps to keep)`);
    const backupPath = `${key('postgres')}.backup`;
    const backup = {
      schedule: str(backupRaw, backupPath, 'schedule', /^(\S+\s+){4}\S+$/),
      keep: int(backupRaw, backupPath, 'keep', 1),
      storage: str(backupRaw, backupPath, 'storage', QUANTITY),
    };
    postgres = { external: false, storage: str(raw, key('postgres'), 'storage', QUANTITY), backup, ...service };
  }

  const redis = thirdParty('redis').service;
  const prom = thirdParty('prometheus');
  const prometheus = {
    ...prom.service,
    retention: str(prom.raw, key('prometheus'), 'retention', DURATION),
    storage: str(prom.raw, key('prometheus'), 'storage', QUANTITY),
  };
  const pushgateway = thirdParty('pushgateway').service;
  const postgresExporter = thirdParty('postgresExporter').service;
  const redisExporter = thirdParty('redisExporter').service;
  const receivers = config.getSecretObject<AlertReceivers>('alertReceivers');
  if (receivers === undefined)
    problems.push(
      `${key('alertReceivers')}: required secret {pager, ticket, heartbeat} of webhook URLs (pulumi config set --secret --path 'alertReceivers.pager' https://…)`,
    );
  const alertmanager = {
    ...thirdParty('alertmanager').service,
    receivers: receivers ?? pulumi.output({ pager: '', ticket: '', heartbeat: '' }),
  };
  const graf = thirdParty('grafana');
  const grafana = {
    ...graf.service,
    storage: graf.raw?.storage === undefined ? undefined : str(graf.raw, key('grafana'), 'storage', QUANTITY),
    host: graf.raw?.host === undefined ? undefined : str(graf.raw, key('grafana'), 'host', HOST),
  };

  // Read by `make promote` (the gate out of this stage), checked here so a typo fails early.
  const promotion = obj('promotion');
  int(promotion, key('promotion'), 'soakMinutes', 0);
  for (const [field, max] of [
    ['maxErrorRatio', 1],
    ['maxBurnRate', Infinity],
  ] as const) {
    const v = promotion?.[field];
    if (promotion && (typeof v !== 'number' || !(v >= 0 && v <= max)))
      problems.push(`${key('promotion')}.${field}: must be a number in [0, ${max}]`);
  }
  const prometheusUrl = config.get('prometheusUrl');
  if (!prometheusUrl || !/^https?:\/\/\S+$/.test(prometheusUrl))
    problems.push(`${key('prometheusUrl')}: required http(s) URL of this stage's Prometheus`);

  if (problems.length) throw new StackConfigError(stack, problems);
  return {
    namespace: namespace!,
    kubeContext: config.get('kubeContext'),
    image,
    app,
    ingress,
    postgres,
    redis,
    prometheus,
    pushgateway,
    postgresExporter,
    redisExporter,
    alertmanager,
    grafana,
  };
}
