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
import { settings } from '../app/src/config';
import { SERVICE_ROLE } from '../app/src/db/service-role';
import { readStackConfig } from './config';
import { DEFAULT_PROMOTION, StackSettingsError } from './stack-schema';
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
import { APP_NAME, APP_PORT_NAME, appEnvironment, EventService, type EventServiceArgs } from './components/event-service';
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
import { CNPG_INSTANCE_LABELS, Postgres, POSTGRES_PORT } from './components/postgres';
import { Prometheus, PROMETHEUS_NAME, PROMETHEUS_PORT, RULES_MOUNT } from './components/prometheus';
import { Pushgateway, PUSHGATEWAY_NAME, PUSHGATEWAY_PORT } from './components/pushgateway';
import { Redis, REDIS_NAME } from './components/redis';
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

export function deploy(): StackOutputs {
  // Third-party images as the cluster pulls them: through the stack's mirrors.
  const cfg = withMirrors(readStackConfig());
  const nsName = cfg.namespace;

  const provider = new k8s.Provider('k8s', { context: cfg.kubeContext, namespace: nsName, enableServerSideApply: true });
  const namespace = new k8s.core.v1.Namespace(
    'namespace',
    { metadata: { name: nsName, labels: { ...labelsFor('event-stack'), 'kubernetes.io/metadata.name': nsName, ...POD_SECURITY } } },
    { provider },
  );
  // Every object names the namespace through its output, so each waits for the Namespace.
  const ns = namespace.metadata.name;

  let imageRef: pulumi.Output<string>;
  let version: string;
  // A valid stack file, but nothing to run yet: `make up` refuses it earlier, with the same words.
  if (cfg.image.kind === 'never-promoted') {
    const stack = pulumi.getStack();
    throw new StackSettingsError(`Pulumi.${stack}.yaml`, [
      `event-stack:image: stack ${stack} was never promoted, so it has no image to run. Promote a version first: make promote VERSION=x.y.z TO=${stack}`,
    ]);
  }
  if (cfg.image.kind === 'build') {
    version = releaseVersion();
    const image = new AppImage('app', { ...cfg.image, version, ...buildProvenance() });
    imageRef = image.ref;
  } else {
    imageRef = pulumi.output(cfg.image.ref);
    version = cfg.image.version;
  }

  // The owner's URL (migrations, maintenance) and the service's (its own role, rows only, made by the migration).
  let databaseUrl: pulumi.Output<string>;
  let databaseReady: pulumi.Resource[] = [];
  let readHost: pulumi.Output<string> | undefined;
  if (cfg.postgres.external) databaseUrl = cfg.postgres.databaseUrl;
  else {
    const postgres = new Postgres('postgres', { ...cfg.postgres, namespace: ns, provider });
    databaseUrl = postgres.databaseUrl;
    databaseReady = [postgres.cluster];
    if (cfg.postgres.readsFromReplicas) readHost = postgres.readHost;
  }
  const serviceDatabaseUrl = serviceUrlOf(
    databaseUrl,
    new random.RandomPassword('service-db-password', { length: 32, special: false }).result,
  );
  if (cfg.registry.pullSecrets.length) new RegistryAccess('registry', { namespace: ns, pullSecrets: cfg.registry.pullSecrets, provider });
  // The service's own role on the replicas (the -ro Service): the same URL with the other host.
  const readDatabaseUrl = readHost ? withHost(serviceDatabaseUrl, readHost) : '';
  // A managed database's private CA: one ConfigMap, mounted wherever PostgreSQL is reached from.
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
  const redis = new Redis('redis', { ...cfg.redis, namespace: ns, provider });
  new Pushgateway('pushgateway', { ...cfg.pushgateway, namespace: ns, provider });
  new PostgresExporter('postgres-exporter', { ...cfg.postgresExporter, namespace: ns, databaseUrl, caBundle, provider });
  new RedisExporter('redis-exporter', { ...cfg.redisExporter, namespace: ns, redisUrl: redis.redisUrl, provider });
  const appPort = Number(cfg.app.env.PORT ?? settings.PORT.default);
  // Bundled: our own Prometheus, Alertmanager and Grafana. Operator: the cluster's, fed with custom resources.
  let grafana: Grafana | undefined;
  const monitoring = cfg.monitoring;
  if (monitoring.mode === 'bundled') {
    new KubeStateMetrics('kube-state-metrics', {
      ...monitoring.kubeStateMetrics,
      namespace: ns,
      provider,
      cnpgClusters: !cfg.postgres.external,
    });
    new Prometheus('prometheus', {
      ...monitoring.prometheus,
      imagePullSecrets: cfg.registry.pullSecrets,
      namespace: ns,
      config: renderClusterPrometheusConfig({
        appPods: { namespace: nsName, labels: selectorFor(APP_NAME, 'server'), portName: APP_PORT_NAME },
        pushgateway: `${dnsName(PUSHGATEWAY_NAME, nsName)}:${PUSHGATEWAY_PORT}`,
        alertmanagers: alertmanagerAddresses(monitoring.alertmanager.replicas, nsName),
        prometheus: `localhost:${PROMETHEUS_PORT}`,
        postgresExporter: `${dnsName(POSTGRES_EXPORTER_NAME, nsName)}:${POSTGRES_EXPORTER_PORT}`,
        redisExporter: `${dnsName(REDIS_EXPORTER_NAME, nsName)}:${REDIS_EXPORTER_PORT}`,
        kubeStateMetrics: `${dnsName(KUBE_STATE_METRICS_NAME, nsName)}:${KUBE_STATE_METRICS_PORT}`,
        rulesDir: RULES_MOUNT,
        stage: pulumi.getStack(),
        cnpgPods: cfg.postgres.external ? undefined : { namespace: nsName, labels: CNPG_INSTANCE_LABELS, portName: 'metrics' },
      }),
      rules: ruleFiles(),
      provider,
    });
    new Alertmanager('alertmanager', {
      ...monitoring.alertmanager,
      // A string, not the Namespace's output: the peers' addresses are in the arguments.
      namespace: nsName,
      config: cfg.alertReceivers.apply(renderClusterAlertmanagerConfig),
      provider,
    });
    grafana = new Grafana('grafana', {
      ...monitoring.grafana,
      namespace: ns,
      ingressClassName: cfg.ingress.className,
      dashboards: dashboardFiles(),
      provisioning: renderGrafanaProvisioning(`http://${dnsName(PROMETHEUS_NAME, nsName)}:${PROMETHEUS_PORT}`, DASHBOARDS_MOUNT),
      provider,
    });
  } else {
    new OperatorMonitoring('monitoring', {
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
      cnpgPods: cfg.postgres.external ? undefined : { labels: CNPG_INSTANCE_LABELS, port: 'metrics' },
      dashboards: dashboardFiles(),
      provider,
    });
  }

  const admin = adminToken();
  const { env, secretEnv } = appEnvironment(
    {
      PUSHGATEWAY_URL: `http://${dnsName(PUSHGATEWAY_NAME, nsName)}:${PUSHGATEWAY_PORT}`,
      ...(caBundle ? { DATABASE_CA_FILE } : {}),
      ...cfg.app.env,
    },
    { DATABASE_URL: serviceDatabaseUrl, READ_DATABASE_URL: readDatabaseUrl, REDIS_URL: redis.redisUrl, ADMIN_TOKEN: admin },
  );
  const app = new EventService('app', {
    ...cfg.app,
    namespace: ns,
    image: imageRef,
    version,
    ingressClassName: cfg.ingress.className,
    env,
    secretEnv,
    ownerSecretEnv: { DATABASE_URL: databaseUrl, SERVICE_DATABASE_URL: serviceDatabaseUrl },
    canary: cfg.rollout === 'canary' ? canaryOf(cfg, nsName) : undefined,
    provider,
    dependsOn: databaseReady,
    caBundle,
  });

  new NetworkPolicies('network', {
    namespace: ns,
    ingressNamespace: cfg.ingress.namespace,
    app: { name: APP_NAME, port: appPort },
    postgres: cfg.postgres.external
      ? undefined
      : { instances: CNPG_INSTANCE_LABELS, port: POSTGRES_PORT, operatorNamespace: cfg.postgres.operatorNamespace },
    redis: { name: REDIS_NAME, port: 6379 },
    pushgateway: { name: PUSHGATEWAY_NAME, port: PUSHGATEWAY_PORT },
    postgresExporter: { name: POSTGRES_EXPORTER_NAME, port: POSTGRES_EXPORTER_PORT },
    redisExporter: { name: REDIS_EXPORTER_NAME, port: REDIS_EXPORTER_PORT },
    ...(monitoring.mode === 'bundled'
      ? {
          prometheus: { name: PROMETHEUS_NAME, port: PROMETHEUS_PORT },
          alertmanager: {
            name: ALERTMANAGER_NAME,
            port: ALERTMANAGER_PORT,
            clusterPort: monitoring.alertmanager.replicas > 1 ? ALERTMANAGER_CLUSTER_PORT : undefined,
          },
          grafana: { name: GRAFANA_NAME, port: GRAFANA_PORT, exposed: monitoring.grafana.host !== undefined },
          kubeStateMetrics: { name: KUBE_STATE_METRICS_NAME, port: KUBE_STATE_METRICS_PORT },
        }
      : { prometheus: { operatorNamespace: monitoring.namespace } }),
    acmeSolver: [cfg.app.tls, monitoring.mode === 'bundled' ? monitoring.grafana.tls : undefined].some((t) => t?.certManager),
    egress: cfg.egress,
    // An external database is reached through its addresses; the in-namespace one through the namespace rule.
    databaseClients: cfg.postgres.external ? [APP_NAME, POSTGRES_EXPORTER_NAME] : undefined,
    provider,
  });

  return {
    appUrl: app.url,
    // Operator mode: the cluster's Grafana, whose address and password this program does not know.
    grafanaUrl: grafana?.url,
    grafanaAdminPassword: grafana?.adminPassword,
    adminToken: pulumi.secret(admin),
    imageRef,
    version: pulumi.output(version),
    namespace: nsName,
  };
}

/**
 * How the canary is judged: by the stage's own promotion bar, in the Prometheus that scrapes it (ours, which must
 * then admit the Argo Rollouts controller, or the operator's, reached through the Service the operator creates).
 */
function canaryOf(cfg: ReturnType<typeof readStackConfig>, namespace: string): EventServiceArgs['canary'] {
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
