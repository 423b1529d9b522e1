/**
 * The one schema of the stack files' `event-stack:*` keys (Pulumi.<stack>.yaml), secrets included, and the one
 * way to read them: a stack file's YAML is parsed once (`parseStackFile`), its settings decoded once
 * (`decodeStackConfig` for the Pulumi program, which gets the secrets decrypted; `decodeStackFile` for tools,
 * which leave the secrets sealed). The decoded value is the program's `StackConfig`, inferred from the schema:
 * add a key to `SETTINGS` and the program, `make promote`, `make status` and the offline checks all see it,
 * typed. It imports neither Pulumi nor tools: both sides can load it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import semver from 'semver';
import { type Document, parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, loadSettings, settings, type SettingName } from '../app/src/config';
import { TLS_REQUIRED_STAGES } from './policies/rules';

export const PROJECT = 'event-stack';

/** What a qa/staging/prod stack file says in `event-stack:image` until `make promote` first pins an image there. */
export const NEVER_PROMOTED = 'never-promoted';

/**
 * Why a text is not a release version, or undefined. A release version is MAJOR.MINOR.PATCH with an optional
 * pre-release, as the `semver` package reads it strictly (no leading zeros, no "v"). Build metadata
 * (`1.2.3+build.5`) is refused: the version is the image tag, which cannot hold "+", and semver precedence
 * ignores it, so two builds would pass for one version.
 */
export function versionProblem(version: string): string | undefined {
  const parsed = semver.parse(version);
  // semver.parse also takes " 1.2.3" and "v1.2.3"; a version is exactly its normal form (plus any build metadata).
  if (!parsed || !version.startsWith(parsed.version) || version.slice(parsed.version.length).replace(/^\+.*$/, '') !== '')
    return 'must be a semantic version MAJOR.MINOR.PATCH[-prerelease], e.g. 1.4.2 or 2.0.0-rc.1 (no leading zeros, no "v")';
  if (parsed.build.length)
    return `must carry no build metadata (+${parsed.build.join('.')}): the version is the image tag, and a tag cannot hold "+"`;
  return undefined;
}

/** `<repository>@sha256:<64 hex>`, the repository in the Docker reference grammar (lower case, optional registry port). */
const DIGEST_REF = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*@sha256:[0-9a-f]{64}$/;
export const isDigestRef = (ref: string) => DIGEST_REF.test(ref);

export function digestRefProblem(ref: string): string | undefined {
  if (isDigestRef(ref)) return undefined;
  if (!ref.includes('@')) return `"${ref}" is a tag, not a digest: pin it as <repository>@sha256:<64 hex> (make promote writes it)`;
  return `"${ref}" is not of the form <repository>@sha256:<64 hex>`;
}

/** Why a third-party image reference is unacceptable, or undefined when it names an explicit version or digest. */
export function thirdPartyImageProblem(image: string): string | undefined {
  if (image.includes('@sha256:')) return undefined;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const tag = lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : undefined;
  if (!tag) return `"${image}" has no tag: pin an explicit version (e.g. ${image}:1.2.3)`;
  if (tag === 'latest') return `"${image}" uses "latest": pin an explicit version`;
  return undefined;
}

const CRON_FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31, any: true },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  // 0 and 7 are both Sunday.
  { name: 'day of week', min: 0, max: 7, any: true, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
] as const;
const CRON_MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/** Why a Kubernetes CronJob schedule is invalid (five fields, each value within its range), or undefined. */
export function cronProblem(schedule: string): string | undefined {
  const text = schedule.trim();
  if (CRON_MACROS.includes(text)) return undefined;
  if (/^(CRON_)?TZ=/.test(text)) return `"${schedule}": Kubernetes refuses TZ= in a schedule (schedules run in the cluster's time zone)`;
  const fields = text.split(/\s+/);
  if (fields.length !== 5)
    return `"${schedule}" has ${fields.length} fields: a schedule has five (minute hour day-of-month month day-of-week) or is one of ${CRON_MACROS.join(', ')}`;
  for (const [i, field] of fields.entries()) {
    const spec = CRON_FIELDS[i]!;
    const value = (v: string): number | undefined => {
      const named = 'names' in spec ? (spec.names as readonly string[]).indexOf(v.toUpperCase()) : -1;
      if (named >= 0) return named + (spec.name === 'month' ? 1 : 0);
      return /^\d+$/.test(v) && Number(v) >= spec.min && Number(v) <= spec.max ? Number(v) : undefined;
    };
    for (const item of field.split(',')) {
      const [range = '', step, extra] = item.split('/');
      const bad = `"${schedule}": ${spec.name} "${item}" is not within ${spec.min}-${spec.max}`;
      if (extra !== undefined || (step !== undefined && !/^[1-9]\d*$/.test(step))) return `${bad} (a step is /N with N ≥ 1)`;
      if (range === '*' || ('any' in spec && range === '?')) continue;
      const [low, high, more] = range.split('-');
      const from = value(low ?? '');
      const to = high === undefined ? from : value(high);
      if (more !== undefined || from === undefined || to === undefined) return bad;
      if (from > to) return `"${schedule}": ${spec.name} range "${range}" runs backwards`;
    }
  }
  return undefined;
}

// Human messages: each names what is expected; the formatter adds the key path and the value given.
const text = (what = 'a non-empty string') => z.string({ error: `must be ${what}` }).min(1, `must be ${what}`);
const matching = (re: RegExp, what: string) => text(what).regex(re, `must be ${what}`);
const checked = (problem: (v: string) => string | undefined, what: string) =>
  text(what).superRefine((v, ctx) => {
    const p = problem(v);
    if (p) ctx.addIssue({ code: 'custom', message: p });
  });
const integer = (min: number) =>
  z
    .number({ error: `must be an integer ≥ ${min}` })
    .int(`must be an integer ≥ ${min}`)
    .min(min, `must be an integer ≥ ${min}`);
const number = (min: number, max: number) =>
  z
    .number({ error: `must be a number in [${min}, ${max}]` })
    .min(min, `must be a number in [${min}, ${max}]`)
    .max(max, `must be a number in [${min}, ${max}]`);

const QUANTITY = /^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const QUANTITY_FACTORS: Record<string, number> = {
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};
/** Bytes of a Kubernetes quantity (matching QUANTITY). */
const quantityBytes = (q: string) => {
  const [, n, unit] = /^(\d+(?:\.\d+)?)(\D*)$/.exec(q)!;
  return Number(n) * QUANTITY_FACTORS[unit!]!;
};
/** Prometheus' size flags: its units are powers of 1024 (KB = 1024 B). */
const PROMETHEUS_SIZE = /^\d+(B|KB|MB|GB|TB|PB)$/;
const prometheusSizeBytes = (size: string) => {
  const [, n, unit] = /^(\d+)(\D+)$/.exec(size)!;
  return Number(n) * 1024 ** ['B', 'KB', 'MB', 'GB', 'TB', 'PB'].indexOf(unit!);
};
const quantity = matching(QUANTITY, 'a Kubernetes quantity (e.g. 250m, 512Mi, 2Gi)');
const dnsLabel = matching(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS label (lower-case letters, digits, "-")');
const hostName = matching(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a host name (e.g. events.example.com)');
const httpUrl = matching(/^https?:\/\/\S+$/, 'an http(s) URL');

const resources = z.strictObject(
  {
    requests: z.strictObject({ cpu: quantity, memory: quantity }, { error: 'must be a map {cpu, memory}' }),
    limits: z.strictObject({ cpu: quantity, memory: quantity }, { error: 'must be a map {cpu, memory}' }),
  },
  { error: 'must be a map {requests: {cpu, memory}, limits: {cpu, memory}}' },
);
const thirdPartyFields = { image: checked(thirdPartyImageProblem, 'an image reference with an explicit version'), resources };
const map = <T extends z.core.$ZodLooseShape>(shape: T, what: string) => z.strictObject(shape, { error: `must be a map ${what}` });
const thirdParty = map(thirdPartyFields, '{image, resources}');

/**
 * TLS of an Ingress: `secretName` holds the certificate; with `clusterIssuer` or `issuer` cert-manager issues it
 * into that Secret, without either the Secret must already exist in the namespace (created by hand or another tool).
 */
const tls = map(
  { clusterIssuer: dnsLabel.optional(), issuer: dnsLabel.optional(), secretName: dnsLabel },
  '{clusterIssuer | issuer, secretName} or {secretName} of an existing Secret',
)
  .refine((t) => !(t.clusterIssuer && t.issuer), { message: 'set clusterIssuer or issuer, not both' })
  .transform(({ clusterIssuer, issuer, secretName }) => {
    if (clusterIssuer) return { certManager: { kind: 'ClusterIssuer' as const, name: clusterIssuer }, secretName };
    if (issuer) return { certManager: { kind: 'Issuer' as const, name: issuer }, secretName };
    return { secretName };
  });

const CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;
const cidr = matching(CIDR, 'an IPv4 CIDR (e.g. 10.0.0.1/32)');
const egressRule = map(
  {
    cidrs: z.array(cidr, { error: 'must be a list of IPv4 CIDRs' }).min(1, 'must name at least one CIDR'),
    except: z.array(cidr, { error: 'must be a list of IPv4 CIDRs' }).default([]),
    port: integer(1).max(65535, 'must be a port (1-65535)'),
  },
  '{cidrs, except?, port}',
);

const NON_SECRET_SETTINGS = (Object.keys(settings) as SettingName[]).filter((name) => !(settings[name] as { secret?: boolean }).secret);

/** `app.env`: non-secret settings of app/src/config.ts, each valid, and together passing its cross-setting rules. */
const appEnv = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()], { error: 'must be a string or number' }), {
    error: 'must be a map of setting → value',
  })
  .superRefine((env, ctx) => {
    const given: Record<string, string> = {};
    for (const [name, value] of Object.entries(env)) {
      const setting = (settings as Record<string, { secret?: boolean }>)[name];
      if (!setting) ctx.addIssue({ code: 'custom', path: [name], message: 'is not a setting of app/src/config.ts' });
      else if (setting.secret)
        ctx.addIssue({ code: 'custom', path: [name], message: 'is a secret: the program supplies it from a Kubernetes Secret' });
      else given[name] = String(value);
    }
    try {
      loadSettings(NON_SECRET_SETTINGS, given);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      // "NAME: problem" from the service's own checks: the very messages it would exit 2 with.
      for (const problem of err.problems) {
        const [name = '', ...rest] = problem.split(': ');
        ctx.addIssue({ code: 'custom', path: [name], message: rest.join(': ') });
      }
    }
  })
  // Checked above: every key is a non-secret setting, every value its text.
  .transform((env) => Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])) as Partial<Record<SettingName, string>>);

export const DEFAULT_PROMOTION = {
  soakMinutes: 30,
  maxErrorRatio: 0.001,
  maxBurnRate: 1,
  minRequests: 100,
  bakeMinutes: 10,
  breachPolls: 3,
};

/** Every `event-stack:*` key a stack file may hold (without the `event-stack:` prefix), secrets excepted. */
const SETTINGS = {
  namespace: dnsLabel,
  /** kubeconfig context; absent: the current context. */
  kubeContext: text().optional(),
  /** qa/staging/prod: the image `make promote` pinned, or `never-promoted` until the first promotion. */
  image: z
    .union(
      [
        z.literal(NEVER_PROMOTED, { error: `must be a map {ref, version}, or ${NEVER_PROMOTED} until the first promotion` }),
        map(
          { ref: checked(digestRefProblem, '<repository>@sha256:<64 hex>'), version: checked(versionProblem, 'a semantic version') },
          '{ref, version}',
        ),
      ],
      { error: `must be a map {ref, version}, or ${NEVER_PROMOTED} until the first promotion` },
    )
    .optional(),
  /** dev: build the image from the repository (tag = app/package.json version). */
  build: map(
    {
      repository: matching(/^[a-z0-9][a-z0-9._\-/:]*$/, 'a lower-case repository name').refine(
        (r) => !r.includes('@') && !/:[^/]*$/.test(r.replace(/^[^/]*\//, '')),
        'must be the repository without tag or digest (the tag is the version)',
      ),
      dockerfile: text().default('app/Dockerfile'),
      context: text().default('.'),
    },
    '{repository, dockerfile?, context?}',
  ).optional(),
  app: map(
    {
      replicas: integer(1),
      maxReplicas: integer(1).optional(),
      resources,
      host: hostName,
      tls: tls.optional(),
      /** hard: never two replicas on one node (DoNotSchedule); soft: a preference the scheduler may break. */
      topologySpread: z.enum(['hard', 'soft'], { error: 'must be hard or soft' }).default('soft'),
      maintenanceSchedule: checked(cronProblem, 'a cron schedule').default('17 3 * * *'),
      /** Non-secret settings of app/src/config.ts that differ from their defaults. */
      env: appEnv.default({}),
    },
    '{replicas, resources, host, …}',
  )
    .refine((a) => (a.maxReplicas ?? a.replicas) >= a.replicas, { message: 'maxReplicas must be ≥ replicas', path: ['maxReplicas'] })
    .transform((a) => ({ ...a, maxReplicas: a.maxReplicas ?? a.replicas })),
  ingress: map({ className: text(), namespace: dnsLabel }, '{className, namespace}'),
  /**
   * How a new version of the service replaces the old in this stage. rolling: the Deployment's rolling update.
   * canary: an Argo Rollouts Rollout that moves a share of the pods to the new version, checks the canary's own
   * error ratio, latency and traffic in this stage's Prometheus, and rolls back by itself when they fail
   * (the Argo Rollouts controller must run in the cluster: docs/deploy.md).
   */
  rollout: z.enum(['canary', 'rolling'], { error: 'must be canary or rolling' }).default('rolling'),
  postgres: z.union(
    [
      map(
        {
          external: z.literal(true),
          /**
           * The managed database's CA certificate(s), PEM (public, so in the stack file): mounted into the app, the
           * migration, the maintenance job and the exporter, which then connect with verify-full against it.
           */
          caCertificate: matching(/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/, 'PEM certificate(s)').optional(),
        },
        '{external: true, caCertificate?}',
      ),
      map(
        {
          external: z.literal(false).default(false),
          /** A CloudNativePG operand image (ghcr.io/cloudnative-pg/postgresql:<version>). */
          ...thirdPartyFields,
          storage: quantity,
          /** CloudNativePG instances: one primary and instances − 1 streaming replicas (≥ 3: synchronous commit to one). */
          instances: integer(1),
          /** GET /api/v1/events from the replicas (the cluster's -ro Service): needs instances ≥ 2. */
          readsFromReplicas: z.boolean().default(false),
          /** protect + retainOnDelete on the Cluster and its ObjectStore: a destroy leaves the data and the archive. */
          retain: z.boolean().default(false),
          /** Where the CloudNativePG operator runs (a prerequisite, docs/deploy.md): it reaches the instances. */
          operatorNamespace: dnsLabel.default('cnpg-system'),
          backup: map(
            {
              /** Base backups (a ScheduledBackup); WAL is archived continuously. */
              schedule: checked(cronProblem, 'a cron schedule'),
              /** How long backups and WAL stay recoverable (Barman's retention policy). */
              retention: matching(/^[1-9][0-9]*[dwm]$/, 'a retention such as 7d, 4w or 3m'),
              objectStore: map(
                {
                  provider: z.enum(['s3', 'gcs', 'azure'], { error: 'must be s3, gcs or azure' }),
                  /** s3://bucket/path, gs://bucket/path or https://account.blob.core.windows.net/container/path. */
                  destinationPath: matching(/^(s3|gs|https):\/\/\S+$/, 'an s3://, gs:// or https:// path'),
                  /** An S3-compatible endpoint other than AWS (MinIO…). */
                  endpointURL: httpUrl.optional(),
                  /** The Secret holding the credentials (created beforehand: docs/deploy.md). */
                  secret: dnsLabel,
                },
                '{provider, destinationPath, endpointURL?, secret}',
              ),
            },
            '{schedule, retention, objectStore} (base backups and the WAL archive)',
          ),
          /** Point-in-time recovery: a new cluster bootstrapped from the archive of `fromServer` up to `targetTime`. */
          recovery: map(
            {
              targetTime: matching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, 'an RFC 3339 time'),
              fromServer: dnsLabel.default('postgres'),
            },
            '{targetTime, fromServer?}',
          ).optional(),
        },
        '{image, storage, instances, backup, resources, …}',
      )
        .refine((p) => !p.readsFromReplicas || p.instances >= 2, {
          message: 'readsFromReplicas needs instances ≥ 2 (one instance has no replica to read from)',
          path: ['readsFromReplicas'],
        })
        .refine(
          (p) =>
            p.backup.objectStore.destinationPath.startsWith(
              { s3: 's3://', gcs: 'gs://', azure: 'https://' }[p.backup.objectStore.provider],
            ),
          {
            message: 'destinationPath must match the provider (s3://, gs:// or https://)',
            path: ['backup', 'objectStore', 'destinationPath'],
          },
        ),
    ],
    { error: 'must be a map {image, storage, instances, backup, resources, …}, or {external: true} with the secret databaseUrl' },
  ),
  redis: thirdParty,
  prometheus: map(
    {
      ...thirdPartyFields,
      retention: matching(/^\d+[smhdwy]$/, 'a duration such as 7d or 12h'),
      /** --storage.tsdb.retention.size: past it the oldest blocks go before `retention`, instead of the volume filling up. */
      retentionSize: matching(PROMETHEUS_SIZE, 'a size in Prometheus units such as 40GB (B, KB, MB, GB, TB; powers of 1024)'),
      storage: quantity,
    },
    '{image, retention, retentionSize, storage, resources}',
  )
    .refine((p) => prometheusSizeBytes(p.retentionSize) < quantityBytes(p.storage), {
      message: 'retentionSize must be below storage: the WAL, head chunks and compaction need room beside the blocks',
      path: ['retentionSize'],
    })
    .optional(),
  /** kube-state-metrics (bundled mode): the state of the stack's Deployments, pods, HPA and CronJobs for the Kubernetes alerts. */
  kubeStateMetrics: thirdParty.optional(),
  pushgateway: thirdParty,
  /** prometheus-postgres-exporter and prometheus-redis-exporter (their own Deployments). */
  postgresExporter: thirdParty,
  redisExporter: thirdParty,
  /**
   * replicas > 1 gossip silences and the notification log (--cluster.peer through a headless Service); storage
   * keeps them on a volume across restarts (staging and prod), without it on an emptyDir.
   */
  alertmanager: map(
    { ...thirdPartyFields, replicas: integer(1).default(1), storage: quantity.optional() },
    '{image, resources, replicas?, storage?}',
  ).optional(),
  grafana: map(
    { ...thirdPartyFields, storage: quantity.optional(), host: hostName.optional(), tls: tls.optional() },
    '{image, resources, storage?, host?, tls?}',
  ).optional(),
  /**
   * Who runs Prometheus, Alertmanager and Grafana: this program (bundled, the default) or the cluster's
   * Prometheus Operator (kube-prometheus-stack: its Prometheus pods run in `namespace` and select on `matchLabels`;
   * the program declares monitors, a PrometheusRule, an AlertmanagerConfig and dashboard ConfigMaps).
   * In operator mode the prometheus, alertmanager, grafana and kubeStateMetrics keys are not used and may be left out
   * (kube-prometheus-stack runs its own kube-state-metrics and scrapes the kubelets).
   */
  monitoring: z
    .discriminatedUnion(
      'mode',
      [
        map({ mode: z.literal('bundled') }, '{mode: bundled}'),
        map(
          {
            mode: z.literal('operator'),
            namespace: dnsLabel,
            matchLabels: z
              .record(z.string(), text(), { error: 'must be a map of label → value' })
              .refine(
                (m) => Object.keys(m).length > 0,
                'must name the labels the operator selects on (kube-prometheus-stack: {release: <its release name>})',
              ),
          },
          '{mode: operator, namespace, matchLabels}',
        ),
      ],
      { error: 'must be {mode: bundled} or {mode: operator, namespace, matchLabels}' },
    )
    .default({ mode: 'bundled' }),
  /**
   * Thresholds of the gate for promoting OUT of this stage (`make promote`), and the watch after every deploy
   * INTO it (promote and rollback): for `bakeMinutes` the new version's burn rates must stay ≤ maxBurnRate, else
   * it is rolled back; a breach counts once `breachPolls` polls in a row show it (one bad poll is noise).
   * `minRequests`: API requests of the version within the soak window below which its health cannot be judged.
   * Each has a default.
   */
  promotion: map(
    {
      soakMinutes: integer(0).default(DEFAULT_PROMOTION.soakMinutes),
      maxErrorRatio: number(0, 1).default(DEFAULT_PROMOTION.maxErrorRatio),
      maxBurnRate: number(0, Number.MAX_SAFE_INTEGER).default(DEFAULT_PROMOTION.maxBurnRate),
      minRequests: integer(1).default(DEFAULT_PROMOTION.minRequests),
      // A number, not an integer: the tests bake for seconds.
      bakeMinutes: number(0, 24 * 60).default(DEFAULT_PROMOTION.bakeMinutes),
      breachPolls: integer(1).default(DEFAULT_PROMOTION.breachPolls),
    },
    '{soakMinutes?, maxErrorRatio?, maxBurnRate?, minRequests?, bakeMinutes?, breachPolls?}',
  ).optional(),
  /**
   * The value of the external label `stage` this stage's Prometheus reports (default: the stack's name): the
   * bundled Prometheus is rendered with it, a Prometheus of the operator (shared by several stages) must carry it.
   * The gate and the watch refuse a Prometheus whose label differs: a laptop's `make local` (stage="local") must
   * never pass for dev. Read it through `prometheusStageOf`.
   */
  prometheusStage: text().optional(),
  /**
   * Where pods may connect outside the namespace (egress is denied by default; DNS to kube-dns and the
   * namespace's own pods are always allowed): the API server for Prometheus' pod discovery, the managed
   * database, the alert receivers. Addresses as CIDRs: a NetworkPolicy cannot name a host. 169.254.169.254
   * (the cloud metadata address) is excepted from every rule whatever the CIDRs say.
   */
  egress: map(
    {
      kubernetesApi: egressRule,
      database: egressRule.optional(),
      alertReceivers: egressRule.optional(),
      /** Where the in-cluster database's instances archive WAL and base backups (the backup object store). */
      objectStore: egressRule.optional(),
    },
    '{kubernetesApi, database?, alertReceivers?, objectStore?} of {cidrs, except?, port}',
  ),
  /**
   * Third-party images through a mirror (source registry → prefix, e.g. docker.io: harbor.example.com/dockerhub)
   * and the pull secrets (existing docker-registry Secrets of the namespace) every pod presents.
   */
  registry: map(
    {
      pullSecrets: z.array(dnsLabel, { error: 'must be a list of Secret names' }).default([]),
      mirrors: z
        .record(hostName, text('a registry prefix such as harbor.example.com/dockerhub'), {
          error: 'must be a map of registry → mirror prefix',
        })
        .default({}),
    },
    '{pullSecrets?, mirrors?}',
  ).default({ pullSecrets: [], mirrors: {} }),
  /** This stage's Prometheus as `make promote` reaches it (a port-forward): asked by the promotion gate. */
  prometheusUrl: httpUrl,
  /**
   * Where people open Prometheus, Alertmanager and Grafana (bundled monitoring): every link of a notification
   * (--web.external-url of both, Grafana's root_url), never the promote port-forward.
   */
  publicUrls: map(
    { prometheus: httpUrl, alertmanager: httpUrl, grafana: httpUrl },
    '{prometheus, alertmanager, grafana} of URLs',
  ).optional(),
};

/**
 * The secrets: set per stack with `pulumi config set --secret` and never committed; only the Pulumi program
 * (which gets them decrypted) checks them, and their values never appear in a problem.
 */
const SECRETS = {
  /** Webhook URLs of the receivers of alerts/alertmanager.yml (critical → pager, warning → ticket, Watchdog → heartbeat). */
  alertReceivers: map(
    {
      pager: httpUrl,
      ticket: httpUrl,
      /** The external dead man's switch that receives the always-firing Watchdog (alerts/alertmanager.yml). */
      heartbeat: httpUrl,
    },
    '{pager, ticket, heartbeat} of webhook URLs',
  ),
  /** The managed database (`postgres: {external: true}`). */
  databaseUrl: matching(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// URL').optional(),
};
type SecretKey = keyof typeof SECRETS;
const SECRET_KEYS = Object.keys(SECRETS) as SecretKey[];

/** How to set each secret, for the problem saying it is missing. */
const SECRET_HELP: Record<SecretKey, string> = {
  alertReceivers: "{pager, ticket, heartbeat} of webhook URLs: pulumi config set --secret --path 'alertReceivers.pager' https://…",
  databaseUrl: 'pulumi config set --secret databaseUrl postgres://…',
};

const settingsObject = z.strictObject(SETTINGS);
type Settings = z.output<typeof settingsObject>;

/** The rules that join several keys. */
function settingRules(s: Settings, ctx: z.core.$RefinementCtx): void {
  // Bundled monitoring runs our own Prometheus, Alertmanager, Grafana and kube-state-metrics: their settings are required then.
  if (s.monitoring.mode === 'bundled')
    for (const key of ['prometheus', 'alertmanager', 'grafana', 'kubeStateMetrics'] as const)
      if (!s[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'required but not set' });
  if (s.monitoring.mode === 'bundled' && !s.publicUrls)
    ctx.addIssue({ code: 'custom', path: ['publicUrls'], message: 'required with bundled monitoring (the links of every notification)' });
  if (s.postgres.external && !s.egress.database)
    ctx.addIssue({
      code: 'custom',
      path: ['egress', 'database'],
      message: "required when postgres.external is true (the managed database's CIDRs and port)",
    });
  if (!s.postgres.external && !s.egress.objectStore)
    ctx.addIssue({
      code: 'custom',
      path: ['egress', 'objectStore'],
      message: "required with an in-cluster database (the backup object store's CIDRs and port, where WAL is archived)",
    });
  if (s.monitoring.mode === 'bundled' && !s.egress.alertReceivers)
    ctx.addIssue({
      code: 'custom',
      path: ['egress', 'alertReceivers'],
      message: 'required with bundled monitoring (where Alertmanager sends its webhooks)',
    });
  if (s.image && s.build)
    ctx.addIssue({
      code: 'custom',
      path: ['image'],
      message: `set only one of ${PROJECT}:image and ${PROJECT}:build (a stack either pins an image or builds it)`,
    });
  if (!s.image && !s.build)
    ctx.addIssue({
      code: 'custom',
      path: ['image'],
      message: `required but not set (qa/staging/prod pin {ref: <repository>@sha256:…, version}; dev sets ${PROJECT}:build)`,
    });
}

/**
 * The settings in the shape the program composes: where the image comes from, and who runs monitoring with
 * what. Every other key passes through as the schema decoded it.
 */
function programShape({
  image,
  build,
  prometheus,
  alertmanager,
  grafana,
  kubeStateMetrics,
  prometheusUrl,
  publicUrls,
  monitoring,
  ...rest
}: Settings) {
  return {
    ...rest,
    prometheusUrl,
    image:
      image === NEVER_PROMOTED
        ? { kind: 'never-promoted' as const }
        : image
          ? { kind: 'pinned' as const, ...image }
          : // settingRules: without an image, a build.
            { kind: 'build' as const, ...build! },
    monitoring:
      monitoring.mode === 'operator'
        ? monitoring
        : {
            mode: 'bundled' as const,
            // settingRules: bundled monitoring has all four.
            prometheus: { ...prometheus!, externalUrl: publicUrls!.prometheus },
            alertmanager: { ...alertmanager!, externalUrl: publicUrls!.alertmanager },
            grafana: { ...grafana!, externalUrl: publicUrls!.grafana },
            kubeStateMetrics: kubeStateMetrics!,
          },
  };
}

/** A stack's settings as tools read them from its file: secrets are sealed there (or absent), so they are left out. */
const stackFileSchema = settingsObject.superRefine(settingRules).transform(programShape);

/** A stack's settings and decrypted secrets, as the Pulumi program gets them. */
const stackSchema = z
  .strictObject({ ...SETTINGS, ...SECRETS })
  .superRefine(settingRules)
  .superRefine((s, ctx) => {
    if (s.postgres.external && s.databaseUrl === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['databaseUrl'],
        message: `required secret when ${PROJECT}:postgres.external is true, not set (${SECRET_HELP.databaseUrl})`,
      });
  })
  .transform(({ alertReceivers, databaseUrl, ...settings }) => {
    const config = programShape(settings);
    return {
      ...config,
      alertReceivers,
      // The refinement above: an external database has its URL.
      postgres: config.postgres.external ? { ...config.postgres, external: true as const, databaseUrl: databaseUrl! } : config.postgres,
    };
  });

/** What the Pulumi program composes from: every setting of the stack, decoded and checked, secrets included. */
export type StackConfig = z.output<typeof stackSchema>;
/** What tools (`make promote`, `make status`, the offline checks) read from a stack file: the same, without secrets. */
export type StackFileConfig = z.output<typeof stackFileSchema>;
export type Resources = z.output<typeof resources>;
export type ThirdPartyService = z.output<typeof thirdParty>;
export type EgressRule = z.output<typeof egressRule>;
export type TlsSetting = z.output<typeof tls>;
export type AlertReceivers = StackConfig['alertReceivers'];

/** The `stage` external label of the stage's Prometheus: what the program renders and what the gate and the watch require. */
export function prometheusStageOf(config: Pick<StackFileConfig, 'prometheusStage'>, stage: string): string {
  return config.prometheusStage ?? stage;
}

export class StackSettingsError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file} is not a valid stack file:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'StackSettingsError';
  }
}

const isSecretKey = (key: unknown): key is SecretKey => (SECRET_KEYS as unknown[]).includes(key);

/**
 * One line per issue: `event-stack:<key>.<path>: <message> (got <value>)`, a secret's value never shown. Of a
 * union's branches, the one the value came closest to speaks (a map with a bad image is reported as that, not
 * as "not external").
 */
function describe(issue: z.core.$ZodIssue, base: PropertyKey[] = []): string[] {
  const path = [...base, ...issue.path].map(String);
  if (issue.code === 'invalid_union' && issue.input !== undefined && issue.errors.length) {
    const closest = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
    return closest.flatMap((i) => describe(i, path));
  }
  const [key, ...rest] = path;
  const where = key === undefined ? 'config' : `${PROJECT}:${key}${rest.map((p) => `.${p}`).join('')}`;
  if (issue.code === 'unrecognized_keys') {
    const known = key === undefined ? ` (known keys: ${Object.keys(SETTINGS).join(', ')})` : '';
    const keys = issue.keys.map((k) => (key === undefined ? `${PROJECT}:${k}` : k));
    return [`${where}: unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')}${known}`];
  }
  if (issue.input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union'))
    return [
      isSecretKey(key) && !rest.length ? `${where}: required secret, not set (${SECRET_HELP[key]})` : `${where}: required but not set`,
    ];
  const scalar = issue.input !== undefined && (typeof issue.input !== 'object' || issue.input === null);
  const showValue = !isSecretKey(key) && scalar && !issue.message.includes(JSON.stringify(issue.input));
  return [`${where}: ${issue.message}${showValue ? ` (got ${JSON.stringify(issue.input)})` : ''}`];
}

/**
 * The `event-stack:*` keys of a stack's configuration as the Pulumi CLI hands them to a program
 * (every value a string; maps JSON-encoded), prefix removed. Problems: values that are not JSON, each
 * reported here once; `undecodable` names their keys, whose absence is then no further problem.
 */
function decodePulumiConfig(values: Record<string, string>) {
  const decoded: Record<string, unknown> = {};
  const problems: string[] = [];
  const undecodable = new Set<string>();
  for (const [fullKey, value] of Object.entries(values)) {
    if (!fullKey.startsWith(`${PROJECT}:`)) continue;
    const key = fullKey.slice(PROJECT.length + 1);
    if (!/^[[{]/.test(value.trim())) {
      decoded[key] = value;
      continue;
    }
    try {
      decoded[key] = JSON.parse(value);
    } catch {
      problems.push(`${fullKey}: is not valid YAML/JSON`);
      undecodable.add(key);
    }
  }
  return { decoded, problems, undecodable };
}

/**
 * What a stage requires of its file beyond the schema: the TLS settings that staging and prod's Ingresses are
 * rendered from, named by key before anything is declared. Whether the rendered Ingresses serve TLS is the policy
 * rule ingress-tls (infra/policies/rules.ts), which owns the check of the objects.
 */
function stageProblems(s: StackFileConfig, stage: string | undefined): string[] {
  if (!stage || !TLS_REQUIRED_STAGES.includes(stage)) return [];
  const why = `required in ${stage} (bearer tokens must not cross the network in clear)`;
  const grafana = s.monitoring.mode === 'bundled' ? s.monitoring.grafana : undefined;
  return [
    ...(s.app.tls ? [] : [`${PROJECT}:app.tls: ${why}`]),
    ...(grafana?.host && !grafana.tls ? [`${PROJECT}:grafana.tls: ${why}, since grafana.host exposes Grafana`] : []),
  ];
}

/**
 * The configuration (Pulumi's form) decoded once through `schema`, keys in `without` left out; every problem,
 * each once, in one StackSettingsError. The stage is read from the file name (Pulumi.<stage>.yaml).
 */
function decode<T extends StackFileConfig>(schema: z.ZodType<T>, values: Record<string, string>, file: string, without: string[] = []): T {
  const { decoded, problems, undecodable } = decodePulumiConfig(values);
  for (const key of without) delete decoded[key];
  const result = schema.safeParse(decoded, { reportInput: true });
  const stage = /Pulumi\.([^/]+)\.yaml$/.exec(file)?.[1];
  problems.push(
    ...(result.error?.issues.filter((i) => !undecodable.has(String(i.path[0]))).flatMap((i) => describe(i)) ?? []),
    ...(result.success ? stageProblems(result.data, stage) : []),
  );
  if (problems.length || !result.success) throw new StackSettingsError(file, problems);
  return result.data;
}

/** The Pulumi program's reading of its stack: the configuration as the Pulumi CLI hands it over, secrets decrypted. */
export function decodeStackConfig(values: Record<string, string>, file: string): StackConfig {
  return decode(stackSchema, values, file);
}

/** A tool's reading of a stack's configuration (Pulumi's form): the settings, secrets left sealed and unchecked. */
export function decodeStackFile(values: Record<string, string>, file: string): StackFileConfig {
  return decode(stackFileSchema, values, file, SECRET_KEYS);
}

/** A stack file parsed once: its YAML document (for in-place edits) and its configuration as Pulumi hands it to the program. */
export interface ParsedStackFile {
  /** The file's name, Pulumi.<stage>.yaml, as problems name it. */
  file: string;
  source: string;
  document: Document.Parsed;
  /** The `config:` map: scalars as strings, maps JSON-encoded. */
  values: Record<string, string>;
}

/** Parses a stack file's text; a StackSettingsError when it is not YAML. */
export function parseStackFile(file: string, source: string): ParsedStackFile {
  const document = parseDocument(source);
  if (document.errors.length) throw new StackSettingsError(file, [`not valid YAML: ${document.errors[0]?.message}`]);
  const config = ((document.toJS() as { config?: Record<string, unknown> } | null)?.config ?? {}) as Record<string, unknown>;
  const values = Object.fromEntries(
    Object.entries(config).map(([k, v]) => [
      k,
      typeof v === 'string' ? v : v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v),
    ]),
  );
  return { file, source, document, values };
}

/** A stack file read, parsed and decoded, each once: what every tool reads a stack file with. */
export function loadStackFile(filePath: string): ParsedStackFile & { config: StackFileConfig } {
  const parsed = parseStackFile(path.basename(filePath), fs.readFileSync(filePath, 'utf8'));
  return { ...parsed, config: decodeStackFile(parsed.values, parsed.file) };
}
