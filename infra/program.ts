/**
 * One environment: reads the stack's configuration (before declaring anything), then composes the
 * components. `index.ts` exports what this returns; the offline tests call it under mocks.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { SERVICE_ROLE } from '../app/src/db/service-role';
import { readStackConfig } from './config';
import { DEFAULT_PROMOTION, prometheusStageOf, StackSettingsError } from './stack-schema';
import {
  Alertmanager,
  alertmanagerAddresses,
  ALERTMANAGER_CLUSTER_PORT,
  ALERTMANAGER_NAME,
  ALERTMANAGER_PORT,
} from './components/alertmanager';
import { AppImage } from './components/app-image';
import { canaryThresholds } from './components/canary';
import { OPERATOR_PROMETHEUS_SERVICE } from './components/canary-rollout';
import { APP_NAME, APP_PORT_NAME, appEnvironment, appPort, EventService, type EventServiceArgs } from './components/event-service';
import {
  POSTGRES_EXPORTER_NAME,
  POSTGRES_EXPORTER_PORT,
  PostgresExporter,
  REDIS_EXPORTER_NAME,
  REDIS_EXPORTER_PORT,
  RedisExporter,
} from './components/exporters';
import { Grafana, DASHBOARDS_MOUNT, GRAFANA_NAME, GRAFANA_PORT } from './components/grafana';
import { NetworkPolicies } from './components/network-policies';
import { OperatorMonitoring } from './components/operator-monitoring';
import { KUBE_STATE_METRICS_NAME, KUBE_STATE_METRICS_PORT, KubeStateMetrics } from './components/kube-state-metrics';
import { CNPG_INSTANCE_LABELS, CNPG_PORT_NAMES, Postgres, POSTGRES_PORT } from './components/postgres';
import { Prometheus, PROMETHEUS_NAME, PROMETHEUS_PORT, RULES_MOUNT } from './components/prometheus';
import { Pushgateway, PUSHGATEWAY_NAME, PUSHGATEWAY_PORT } from './components/pushgateway';
import { Redis, REDIS_NAME, REDIS_PORT } from './components/redis';
import { RegistryAccess, withMirrors } from './components/registry';
import { DATABASE_CA_FILE, dnsName, labelsFor, selectorFor } from './components/workload';
import { dashboardFiles, REPO_ROOT, renderClusterAlertmanagerConfig, renderGrafanaProvisioning, ruleFiles } from './monitoring';
import {
  CLUSTER_SCRAPE_INTERVAL,
  POSTGRES_EXPORTER_JOB,
  PUSHGATEWAY_JOB,
  REDIS_EXPORTER_JOB,
  renderClusterPrometheusConfig,
} from '../monitoring/src';

export interface StackOutputs {
  appUrl: pulumi.Output<string>;
  grafanaUrl?: pulumi.Output<string>;
  grafanaAdminPassword?: pulumi.Output<string>;
  /** The app's ADMIN_TOKEN (secret): creates sensors (make admin-token ENV=<stack>). */
  adminToken: pulumi.Output<string>;
  imageRef: pulumi.Output<string>;
  version: pulumi.Output<string>;
  namespace: string;
}

/** The release version: app/package.json is its one source. */
export function releaseVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'app', 'package.json'), 'utf8')) as { version: string }).version;
}

/** What the image's labels and /version report: the commit being built and its time (stable per commit, so no rebuild each run). */
export function buildProvenance(): { commit: string; created: string; source: string } {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim();
    } catch {
      return 'unknown';
    }
  };
  return {
    commit: process.env.GIT_COMMIT || git(['rev-parse', 'HEAD']),
    created: git(['log', '-1', '--format=%cI']),
    source: process.env.IMAGE_SOURCE || git(['remote', 'get-url', 'origin']),
  };
}

type Config = ReturnType<typeof readStackConfig>;
type Bundled = Extract<Config['monitoring'], { mode: 'bundled' }>;
type Operator = Extract<Config['monitoring'], { mode: 'operator' }>;
/** Where every object of the stack goes: the namespace (by its output, so each object waits for it) and the provider. */
interface Target {
  /** The namespace's name as the configuration gives it (for addresses). */
  nsName: string;
  ns: pulumi.Output<string>;
  provider: k8s.Provider;
}
/** The app's database URLs: the owner's (migrations, maintenance), the service's own role, and its reads. */
interface Database {
  ownerUrl: pulumi.Output<string>;
  serviceUrl: pulumi.Output<string>;
  readUrl: pulumi.Output<string> | '';
  /** What the migration waits for: the in-cluster database. */
  ready: pulumi.Resource[];
  /** A managed database's private CA: one ConfigMap, mounted wherever PostgreSQL is reached from. */
  caBundle?: pulumi.Output<string>;
}

export function deploy(): StackOutputs {
  // Third-party images as the cluster pulls them: through the stack's mirrors.
  const cfg = withMirrors(readStackConfig());
  const image = runnableImage(cfg);
  const target = stackNamespace(cfg);
  const { imageRef, version } = appImage(image);
  const database = appDatabase(cfg, target);
  if (cfg.registry.pullSecrets.length)
    new RegistryAccess('registry', { namespace: target.ns, pullSecrets: cfg.registry.pullSecrets }, { provider: target.provider });
  const redis = dataServices(cfg, target, database);
  const grafana =
    cfg.monitoring.mode === 'bundled' ? bundledMonitoring(cfg, cfg.monitoring, target) : operatorMonitoring(cfg, cfg.monitoring, target);
  const admin = adminToken();
  const app = eventService(cfg, target, { imageRef, version, database, redisUrl: redis.redisUrl, admin });
  networkPolicies(cfg, target);

  return {
    appUrl: app.url,
    // Operator mode: the cluster's Grafana, whose address and password this program does not know.
    grafanaUrl: grafana?.url,
    grafanaAdminPassword: grafana?.adminPassword,
    adminToken: pulumi.secret(admin),
    imageRef,
    version: pulumi.output(version),
    namespace: target.nsName,
  };
}

/** What the stack runs. A never-promoted stack is a valid stack file, but nothing to run yet: `make up` refuses it earlier, with the same words. */
function runnableImage(cfg: Config): Exclude<Config['image'], { kind: 'never-promoted' }> {
  if (cfg.image.kind !== 'never-promoted') return cfg.image;
  const stack = pulumi.getStack();
  throw new StackSettingsError(`Pulumi.${stack}.yaml`, [
    `event-stack:image: stack ${stack} was never promoted, so it has no image to run. Promote a version first: make promote VERSION=x.y.z TO=${stack}`,
  ]);
}

/** The provider of the stack's cluster and namespace, and the Namespace itself (Pod Security `restricted`). */
function stackNamespace(cfg: Config): Target {
  const nsName = cfg.namespace;
  const provider = new k8s.Provider('k8s', { context: cfg.kubeContext, namespace: nsName, enableServerSideApply: true });
  const namespace = new k8s.core.v1.Namespace(
    'namespace',
    { metadata: { name: nsName, labels: { ...labelsFor('event-stack'), 'kubernetes.io/metadata.name': nsName, ...POD_SECURITY } } },
    { provider },
  );
  return { nsName, ns: namespace.metadata.name, provider };
}

/** The image the app runs: built and pushed (dev), or the one the stack file pins. */
function appImage(image: ReturnType<typeof runnableImage>): { imageRef: pulumi.Output<string>; version: string } {
  if (image.kind === 'pinned') return { imageRef: pulumi.output(image.ref), version: image.version };
  const version = releaseVersion();
  return { imageRef: new AppImage('app', { ...image, version, ...buildProvenance() }).ref, version };
}

/** The owner's URL (migrations, maintenance) and the service's (its own role, rows only, made by the migration). */
function appDatabase(cfg: Config, { ns, provider }: Target): Database {
  let ownerUrl: pulumi.Output<string>;
  let ready: pulumi.Resource[] = [];
  let readHost: pulumi.Output<string> | undefined;
  if (cfg.postgres.external) ownerUrl = cfg.postgres.databaseUrl;
  else {
    const postgres = new Postgres('postgres', { ...cfg.postgres, namespace: ns }, { provider });
    ownerUrl = postgres.databaseUrl;
    ready = [postgres.cluster];
    if (cfg.postgres.readsFromReplicas) readHost = postgres.readHost;
  }
  const serviceUrl = serviceUrlOf(ownerUrl, new random.RandomPassword('service-db-password', { length: 32, special: false }).result);
  // The service's own role on the replicas (the -ro Service): the same URL with the other host.
  const readUrl = readHost ? withHost(serviceUrl, readHost) : '';
  const caBundle =
    cfg.postgres.external && cfg.postgres.caCertificate
      ? new k8s.core.v1.ConfigMap(
          'postgres-ca',
          {
            metadata: { name: 'postgres-ca', namespace: ns, labels: labelsFor('postgres-ca') },
            data: { 'ca.crt': cfg.postgres.caCertificate },
          },
          { provider },
        ).metadata.name
      : undefined;
  return { ownerUrl, serviceUrl, readUrl, ready, caBundle };
}

/** Redis, the Pushgateway and the exporters of both databases. */
function dataServices(cfg: Config, { ns, provider }: Target, database: Database): Redis {
  const redis = new Redis('redis', { ...cfg.redis, namespace: ns }, { provider });
  new Pushgateway('pushgateway', { ...cfg.pushgateway, namespace: ns }, { provider });
  new PostgresExporter(
    'postgres-exporter',
    { ...cfg.postgresExporter, namespace: ns, databaseUrl: database.ownerUrl, caBundle: database.caBundle },
    { provider },
  );
  new RedisExporter('redis-exporter', { ...cfg.redisExporter, namespace: ns, redisUrl: redis.redisUrl }, { provider });
  return redis;
}

/** Bundled: our own kube-state-metrics, Prometheus, Alertmanager and Grafana. */
function bundledMonitoring(cfg: Config, monitoring: Bundled, { nsName, ns, provider }: Target): Grafana {
  new KubeStateMetrics(
    'kube-state-metrics',
    { ...monitoring.kubeStateMetrics, namespace: ns, cnpgClusters: !cfg.postgres.external },
    { provider },
  );
  new Prometheus(
    'prometheus',
    {
      ...monitoring.prometheus,
      imagePullSecrets: cfg.registry.pullSecrets,
      namespace: ns,
      config: renderClusterPrometheusConfig(prometheusTargets(cfg, monitoring, nsName)),
      rules: ruleFiles(),
    },
    { provider },
  );
  new Alertmanager(
    'alertmanager',
    {
      ...monitoring.alertmanager,
      // A string, not the Namespace's output: the peers' addresses are in the arguments.
      namespace: nsName,
      config: cfg.alertReceivers.apply(renderClusterAlertmanagerConfig),
    },
    { provider },
  );
  return new Grafana(
    'grafana',
    {
      ...monitoring.grafana,
      namespace: ns,
      ingressClassName: cfg.ingress.className,
      dashboards: dashboardFiles(),
      provisioning: renderGrafanaProvisioning(`http://${dnsName(PROMETHEUS_NAME, nsName)}:${PROMETHEUS_PORT}`, DASHBOARDS_MOUNT),
    },
    { provider },
  );
}

/** What the bundled Prometheus scrapes, where it sends alerts, and the stage label it carries. */
function prometheusTargets(cfg: Config, monitoring: Bundled, nsName: string) {
  return {
    appPods: { namespace: nsName, labels: selectorFor(APP_NAME, 'server'), portName: APP_PORT_NAME },
    pushgateway: `${dnsName(PUSHGATEWAY_NAME, nsName)}:${PUSHGATEWAY_PORT}`,
    alertmanagers: alertmanagerAddresses(monitoring.alertmanager.replicas, nsName),
    prometheus: `localhost:${PROMETHEUS_PORT}`,
    postgresExporter: `${dnsName(POSTGRES_EXPORTER_NAME, nsName)}:${POSTGRES_EXPORTER_PORT}`,
    redisExporter: `${dnsName(REDIS_EXPORTER_NAME, nsName)}:${REDIS_EXPORTER_PORT}`,
    kubeStateMetrics: `${dnsName(KUBE_STATE_METRICS_NAME, nsName)}:${KUBE_STATE_METRICS_PORT}`,
    rulesDir: RULES_MOUNT,
    stage: prometheusStageOf(cfg, pulumi.getStack()),
    cnpgPods: cfg.postgres.external ? undefined : { namespace: nsName, labels: CNPG_INSTANCE_LABELS, portName: CNPG_PORT_NAMES.metrics },
  };
}

/** Operator: the cluster's Prometheus, Alertmanager and Grafana, fed with custom resources; no Grafana of ours. */
function operatorMonitoring(cfg: Config, monitoring: Operator, { nsName, ns, provider }: Target): undefined {
  new OperatorMonitoring(
    'monitoring',
    {
      namespace: ns,
      stackNamespace: nsName,
      matchLabels: monitoring.matchLabels,
      scrapeInterval: CLUSTER_SCRAPE_INTERVAL,
      app: { name: APP_NAME, port: APP_PORT_NAME },
      services: [
        { job: PUSHGATEWAY_JOB, name: PUSHGATEWAY_NAME, port: 'http' },
        { job: POSTGRES_EXPORTER_JOB, name: POSTGRES_EXPORTER_NAME, port: 'http' },
        { job: REDIS_EXPORTER_JOB, name: REDIS_EXPORTER_NAME, port: 'http' },
      ],
      receivers: cfg.alertReceivers,
      cnpgPods: cfg.postgres.external ? undefined : { labels: CNPG_INSTANCE_LABELS, port: CNPG_PORT_NAMES.metrics },
      dashboards: dashboardFiles(),
    },
    { provider },
  );
  return undefined;
}

/** The service itself, with its settings: the stack's, the addresses of its dependencies, and its secrets. */
function eventService(
  cfg: Config,
  { nsName, ns, provider }: Target,
  uses: {
    imageRef: pulumi.Output<string>;
    version: string;
    database: Database;
    redisUrl: pulumi.Output<string>;
    admin: pulumi.Output<string>;
  },
): EventService {
  const { database } = uses;
  const { env, secretEnv } = appEnvironment(
    {
      PUSHGATEWAY_URL: `http://${dnsName(PUSHGATEWAY_NAME, nsName)}:${PUSHGATEWAY_PORT}`,
      ...(database.caBundle ? { DATABASE_CA_FILE } : {}),
      ...cfg.app.env,
    },
    { DATABASE_URL: database.serviceUrl, READ_DATABASE_URL: database.readUrl, REDIS_URL: uses.redisUrl, ADMIN_TOKEN: uses.admin },
  );
  return new EventService(
    'app',
    {
      ...cfg.app,
      namespace: ns,
      image: uses.imageRef,
      version: uses.version,
      ingressClassName: cfg.ingress.className,
      env,
      secretEnv,
      ownerSecretEnv: { DATABASE_URL: database.ownerUrl, SERVICE_DATABASE_URL: database.serviceUrl },
      canary: cfg.rollout === 'canary' ? canaryOf(cfg, nsName) : undefined,
      dependsOn: database.ready,
      caBundle: database.caBundle,
    },
    { provider },
  );
}

/** Who may talk to whom, from the ports and names of every workload above. */
function networkPolicies(cfg: Config, { ns, provider }: Target): void {
  const monitoring = cfg.monitoring;
  new NetworkPolicies(
    'network',
    {
      namespace: ns,
      ingressNamespace: cfg.ingress.namespace,
      app: { name: APP_NAME, port: appPort(cfg.app.env) },
      postgres: cfg.postgres.external
        ? undefined
        : {
            instances: CNPG_INSTANCE_LABELS,
            port: POSTGRES_PORT,
            portNames: CNPG_PORT_NAMES,
            operatorNamespace: cfg.postgres.operatorNamespace,
          },
      redis: { name: REDIS_NAME, port: REDIS_PORT },
      pushgateway: { name: PUSHGATEWAY_NAME, port: PUSHGATEWAY_PORT },
      postgresExporter: { name: POSTGRES_EXPORTER_NAME, port: POSTGRES_EXPORTER_PORT },
      redisExporter: { name: REDIS_EXPORTER_NAME, port: REDIS_EXPORTER_PORT },
      ...(monitoring.mode === 'bundled' ? bundledMonitoringPeers(monitoring) : { prometheus: { operatorNamespace: monitoring.namespace } }),
      acmeSolver: [cfg.app.tls, monitoring.mode === 'bundled' ? monitoring.grafana.tls : undefined].some((t) => t?.certManager),
      egress: cfg.egress,
      // An external database is reached through its addresses; the in-namespace one through the namespace rule.
      databaseClients: cfg.postgres.external ? [APP_NAME, POSTGRES_EXPORTER_NAME] : undefined,
    },
    { provider },
  );
}

/** Bundled monitoring's workloads as the network policies know them. */
function bundledMonitoringPeers(monitoring: Bundled) {
  return {
    prometheus: { name: PROMETHEUS_NAME, port: PROMETHEUS_PORT },
    alertmanager: {
      name: ALERTMANAGER_NAME,
      port: ALERTMANAGER_PORT,
      clusterPort: monitoring.alertmanager.replicas > 1 ? ALERTMANAGER_CLUSTER_PORT : undefined,
    },
    grafana: { name: GRAFANA_NAME, port: GRAFANA_PORT, exposed: monitoring.grafana.host !== undefined },
    kubeStateMetrics: { name: KUBE_STATE_METRICS_NAME, port: KUBE_STATE_METRICS_PORT },
  };
}

/**
 * How the canary is judged: by the stage's own promotion bar, in the Prometheus that scrapes it (ours, which must
 * then admit the Argo Rollouts controller, or the operator's, reached through the Service the operator creates).
 */
function canaryOf(cfg: Config, namespace: string): EventServiceArgs['canary'] {
  const monitoring = cfg.monitoring;
  return {
    thresholds: canaryThresholds({ ...DEFAULT_PROMOTION, ...cfg.promotion }),
    ...(monitoring.mode === 'bundled'
      ? {
          prometheusAddress: `http://${dnsName(PROMETHEUS_NAME, namespace)}:${PROMETHEUS_PORT}`,
          ownPrometheus: { name: PROMETHEUS_NAME, port: PROMETHEUS_PORT },
        }
      : { prometheusAddress: `http://${dnsName(OPERATOR_PROMETHEUS_SERVICE, monitoring.namespace)}:${PROMETHEUS_PORT}` }),
  };
}

/**
 * Pod Security Admission: the namespace admits only pods meeting the `restricted` profile (every workload here
 * already does; the policy pack checks the same fields), and warns/audits against it too.
 */
const POD_SECURITY = Object.fromEntries(
  ['enforce', 'audit', 'warn'].flatMap((mode) => [
    [`pod-security.kubernetes.io/${mode}`, 'restricted'],
    [`pod-security.kubernetes.io/${mode}-version`, 'latest'],
  ]),
);

/** The owner's URL with the service's role and password: same host, database and parameters (sslmode…). */
function serviceUrlOf(ownerUrl: pulumi.Output<string>, password: pulumi.Output<string>): pulumi.Output<string> {
  return pulumi.secret(
    pulumi.all([ownerUrl, password]).apply(([owner, pw]) => {
      const url = new URL(owner);
      url.username = SERVICE_ROLE;
      url.password = pw;
      return url.toString();
    }),
  );
}

function withHost(url: pulumi.Output<string>, host: pulumi.Output<string>): pulumi.Output<string> {
  return pulumi.secret(
    pulumi.all([url, host]).apply(([u, h]) => {
      const parsed = new URL(u);
      parsed.hostname = h;
      return parsed.toString();
    }),
  );
}

function adminToken(): pulumi.Output<string> {
  return new random.RandomPassword('admin-token', { length: 48, special: false }).result;
}
