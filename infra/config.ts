/** The typed settings of one stack (Pulumi.<stack>.yaml) as the components receive them. */
import * as pulumi from '@pulumi/pulumi';
import { type SettingName } from '../app/src/config';
import { NEVER_PROMOTED, parseStackSecrets, parseStackSettings, StackSettingsError, type StackSettings } from './stack-schema';

export interface Resources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

export interface ThirdPartyService {
  image: string;
  resources: Resources;
}

/** qa/staging/prod run an image that `make promote` pinned by digest (none before the first promotion); dev builds its own. */
export type ImageSource =
  | { kind: 'pinned'; ref: string; version: string }
  | { kind: 'never-promoted' }
  | { kind: 'build'; repository: string; dockerfile: string; context: string };

/**
 * TLS of an Ingress: cert-manager fills the Secret `secretName` from an issuer, or the Secret already exists
 * in the namespace (created by hand or another tool).
 */
export interface TlsSetting {
  certManager?: { kind: 'ClusterIssuer' | 'Issuer'; name: string };
  secretName: string;
}

export interface AlertReceivers {
  pager: string;
  ticket: string;
  /** The external dead man's switch that receives the always-firing Watchdog (alerts/alertmanager.yml). */
  heartbeat: string;
}

/**
 * Who runs Prometheus, Alertmanager and Grafana. `bundled`: this program deploys its own (with these settings).
 * `operator`: the cluster's Prometheus Operator (kube-prometheus-stack) does; the program declares monitors, a
 * PrometheusRule, an AlertmanagerConfig and dashboard ConfigMaps labelled with `matchLabels`, and lets the
 * Prometheus pods of `namespace` scrape its pods.
 */
export type MonitoringMode =
  | {
      mode: 'bundled';
      /** externalUrl: where people open this Prometheus (event-stack:prometheusUrl); alert links point there. */
      prometheus: ThirdPartyService & { retention: string; storage: string; externalUrl: string };
      alertmanager: ThirdPartyService;
      grafana: ThirdPartyService & { storage?: string; host?: string; tls?: TlsSetting };
    }
  | { mode: 'operator'; namespace: string; matchLabels: Record<string, string> };

export interface StackConfig {
  namespace: string;
  monitoring: MonitoringMode;
  /** Webhook URLs of the receivers of alerts/alertmanager.yml (critical → pager, warning → ticket, Watchdog → heartbeat), secret. */
  alertReceivers: pulumi.Output<AlertReceivers>;
  kubeContext?: string;
  image: ImageSource;
  app: {
    replicas: number;
    maxReplicas: number;
    resources: Resources;
    host: string;
    tls?: TlsSetting;
    /** hard: never two replicas on one node (DoNotSchedule); soft: preferred only. */
    topologySpread: 'hard' | 'soft';
    maintenanceSchedule: string;
    /** Non-secret settings of app/src/config.ts that differ from their defaults. */
    env: Partial<Record<SettingName, string>>;
  };
  ingress: { className: string; namespace: string };
  postgres:
    | ({ external: false; storage: string; backup: { schedule: string; keep: number; storage: string } } & ThirdPartyService)
    | { external: true; databaseUrl: pulumi.Output<string> };
  redis: ThirdPartyService;
  pushgateway: ThirdPartyService;
  /** prometheus-postgres-exporter and prometheus-redis-exporter (their own Deployments). */
  postgresExporter: ThirdPartyService;
  redisExporter: ThirdPartyService;
}

/**
 * Reads and checks the stack's configuration before any resource is declared: the `event-stack:*` keys
 * through the schema `make promote` uses too (./stack-schema), the secrets through their own. Throws a
 * StackSettingsError listing every problem at once, each line naming its `event-stack:<key>`.
 */
export function readStackConfig(config = new pulumi.Config(), stack = pulumi.getStack()): StackConfig {
  const file = `Pulumi.${stack}.yaml`;
  const values = pulumi.runtime.allConfig();
  let settings: StackSettings | undefined;
  const problems: string[] = [];
  try {
    settings = parseStackSettings(values, file);
  } catch (err) {
    if (!(err instanceof StackSettingsError)) throw err;
    problems.push(...err.problems);
  }
  try {
    parseStackSecrets(values, file, settings?.postgres.external === true);
  } catch (err) {
    if (!(err instanceof StackSettingsError)) throw err;
    problems.push(...err.problems);
  }
  if (!settings || problems.length) throw new StackSettingsError(file, problems);

  // The secret values stay Outputs marked secret, so they never reach logs or state in clear text.
  const s = settings;
  const image: ImageSource =
    s.image === NEVER_PROMOTED ? { kind: 'never-promoted' } : s.image ? { kind: 'pinned', ...s.image } : { kind: 'build', ...s.build! };
  return {
    namespace: s.namespace,
    kubeContext: s.kubeContext,
    image,
    app: {
      ...s.app,
      maxReplicas: s.app.maxReplicas ?? s.app.replicas,
      env: s.app.env as StackConfig['app']['env'],
      tls: tlsSetting(s.app.tls),
    },
    ingress: s.ingress,
    postgres:
      s.postgres.external === true
        ? { external: true, databaseUrl: config.requireSecret('databaseUrl') }
        : {
            external: false,
            image: s.postgres.image,
            resources: s.postgres.resources,
            storage: s.postgres.storage,
            backup: s.postgres.backup,
          },
    redis: s.redis,
    monitoring:
      s.monitoring.mode === 'operator'
        ? s.monitoring
        : {
            mode: 'bundled',
            prometheus: { ...s.prometheus!, externalUrl: s.prometheusUrl },
            alertmanager: s.alertmanager!,
            grafana: { ...s.grafana!, tls: tlsSetting(s.grafana!.tls) },
          },
    alertReceivers: config.requireSecretObject<AlertReceivers>('alertReceivers'),
    pushgateway: s.pushgateway,
    postgresExporter: s.postgresExporter,
    redisExporter: s.redisExporter,
  };
}

function tlsSetting(tls: StackSettings['app']['tls']): TlsSetting | undefined {
  if (!tls) return undefined;
  if (tls.clusterIssuer) return { certManager: { kind: 'ClusterIssuer', name: tls.clusterIssuer }, secretName: tls.secretName };
  if (tls.issuer) return { certManager: { kind: 'Issuer', name: tls.issuer }, secretName: tls.secretName };
  return { secretName: tls.secretName };
}
