/**
 * Who may talk to whom: ingress is denied in the namespace unless a rule below allows it.
 * Egress is not restricted (the pods resolve DNS and the app reaches its dependencies).
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { childOptions, labelsFor, selectorFor } from './workload';

type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;

export interface NetworkPoliciesArgs {
  namespace: pulumi.Input<string>;
  ingressNamespace: string;
  app: { name: string; port: number };
  /** The in-cluster database and its backup pods' name label. */
  postgres?: { name: string; port: number; backup: string };
  redis: { name: string; port: number };
  prometheus: { name: string; port: number };
  pushgateway: { name: string; port: number };
  postgresExporter: { name: string; port: number };
  redisExporter: { name: string; port: number };
  alertmanager: { name: string; port: number };
  grafana: { name: string; port: number; exposed: boolean };
  provider: k8s.Provider;
}

export class NetworkPolicies extends pulumi.ComponentResource {
  constructor(name: string, args: NetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:network:NetworkPolicies', name, {}, opts);
    const fromPods = (app: string, component?: string): Peer => ({ podSelector: { matchLabels: selectorFor(app, component) } });
    const fromIngress: Peer = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': args.ingressNamespace } } };
    const allow = (policy: string, target: { name: string; port: number }, from: Peer[], component?: string) =>
      new k8s.networking.v1.NetworkPolicy(
        `${name}-${policy}`,
        {
          metadata: { name: policy, namespace: args.namespace, labels: labelsFor('network-policy') },
          spec: {
            podSelector: { matchLabels: selectorFor(target.name, component) },
            policyTypes: ['Ingress'],
            ingress: [{ from, ports: [{ protocol: 'TCP', port: target.port }] }],
          },
        },
        childOptions(this, args.provider),
      );

    new k8s.networking.v1.NetworkPolicy(
      `${name}-default-deny-ingress`,
      {
        metadata: { name: 'default-deny-ingress', namespace: args.namespace, labels: labelsFor('network-policy') },
        spec: { podSelector: {}, policyTypes: ['Ingress'] },
      },
      childOptions(this, args.provider),
    );
    // Every pod of the app's image (server, migration, maintenance) is "the app".
    const app = fromPods(args.app.name);
    const prometheus = fromPods(args.prometheus.name);
    allow('app-from-ingress-and-prometheus', args.app, [fromIngress, prometheus], 'server');
    // The exporters read the databases' statistics; only Prometheus reads the exporters.
    if (args.postgres)
      allow('postgres-from-app-exporter-and-backup', args.postgres, [
        app,
        fromPods(args.postgresExporter.name),
        fromPods(args.postgres.backup),
      ]);
    allow('redis-from-app-and-exporter', args.redis, [app, fromPods(args.redisExporter.name)]);
    allow('postgres-exporter-from-prometheus', args.postgresExporter, [prometheus]);
    allow('redis-exporter-from-prometheus', args.redisExporter, [prometheus]);
    allow('pushgateway-from-prometheus-and-app', args.pushgateway, [prometheus, app]);
    allow('alertmanager-from-prometheus', args.alertmanager, [prometheus]);
    allow('prometheus-from-grafana', args.prometheus, [fromPods(args.grafana.name), prometheus]);
    if (args.grafana.exposed) allow('grafana-from-ingress', args.grafana, [fromIngress]);
    this.registerOutputs({});
  }
}
