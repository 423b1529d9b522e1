/**
 * Where third-party images are pulled from: a registry mirror per source registry (a pull-through cache in front
 * of a rate-limited public registry), and the pull secrets every pod of the namespace presents.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { readStackConfig } from '../config';

type StackConfig = ReturnType<typeof readStackConfig>;

/** The registry an image reference names: its first segment when that is a host, else Docker Hub. */
function splitRegistry(image: string): { registry: string; repository: string } {
  const [first, ...rest] = image.split('/');
  if (rest.length > 0 && (first!.includes('.') || first!.includes(':') || first === 'localhost'))
    return { registry: first!, repository: rest.join('/') };
  // Docker Hub's official images live under library/.
  return { registry: 'docker.io', repository: rest.length > 0 ? image : `library/${image}` };
}

/** The image as pulled through `mirrors` (source registry → mirror prefix); unchanged when its registry has none. */
export function mirroredImage(image: string, mirrors: Record<string, string>): string {
  const { registry, repository } = splitRegistry(image);
  const mirror = mirrors[registry];
  return mirror ? `${mirror.replace(/\/$/, '')}/${repository}` : image;
}

/** The stack's settings with every third-party image pulled through its mirror. */
export function withMirrors(cfg: StackConfig): StackConfig {
  const mirrors = cfg.registry.mirrors;
  const m = <T extends { image: string }>(s: T): T => ({ ...s, image: mirroredImage(s.image, mirrors) });
  return {
    ...cfg,
    postgres: cfg.postgres.external ? cfg.postgres : m(cfg.postgres),
    redis: m(cfg.redis),
    pushgateway: m(cfg.pushgateway),
    postgresExporter: m(cfg.postgresExporter),
    redisExporter: m(cfg.redisExporter),
    monitoring:
      cfg.monitoring.mode === 'bundled'
        ? {
            ...cfg.monitoring,
            prometheus: m(cfg.monitoring.prometheus),
            alertmanager: m(cfg.monitoring.alertmanager),
            grafana: m(cfg.monitoring.grafana),
            kubeStateMetrics: m(cfg.monitoring.kubeStateMetrics),
          }
        : cfg.monitoring,
  };
}

/**
 * The namespace's default ServiceAccount (every pod here but Prometheus runs as it) presents the pull secrets:
 * the Secrets themselves are the cluster operator's (kubectl create secret docker-registry), never the program's.
 */
export class RegistryAccess extends pulumi.ComponentResource {
  /** The patch is created as its child: give the provider in `opts`, it inherits it. */
  constructor(name: string, args: { namespace: pulumi.Input<string>; pullSecrets: string[] }, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:registry:RegistryAccess', name, {}, opts);
    new k8s.core.v1.ServiceAccountPatch(
      `${name}-default-account`,
      { metadata: { name: 'default', namespace: args.namespace }, imagePullSecrets: args.pullSecrets.map((s) => ({ name: s })) },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
