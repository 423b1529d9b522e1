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
  /** The in-cluster database: CloudNativePG's instance pods (their labels), and where its operator runs. */
  postgres?: { instances: Record<string, string>; port: number; operatorNamespace: string };
  redis: { name: string; port: number };
  /** Our own Prometheus, or (operator mode) the namespace of the operator's, whose pods are named prometheus. */
  prometheus: { name: string; port: number } | { operatorNamespace: string };
  pushgateway: { name: string; port: number };
  postgresExporter: { name: string; port: number };
  redisExporter: { name: string; port: number };
  /** Absent in operator mode (the operator's run elsewhere). */
  alertmanager?: { name: string; port: number };
  grafana?: { name: string; port: number; exposed: boolean };
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
    // Every pod of the app's image (server, migration, maintenance) uses the database; only the server
    // uses Redis, and only the maintenance job pushes metrics. Prometheus is ours, or the operator's.
    const prometheus: Peer =
      'operatorNamespace' in args.prometheus
        ? {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': args.prometheus.operatorNamespace } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
          }
        : fromPods(args.prometheus.name);
    allow('app-from-ingress-and-prometheus', args.app, [fromIngress, prometheus], 'server');
    // The exporters read the databases' statistics; only Prometheus reads the exporters.
    if (args.postgres) {
      // The instances replicate from one another; the operator reaches PostgreSQL and each instance manager's
      // status port; Prometheus reads the instance managers' metrics (backups and WAL archiving included).
      const instances: Peer = { podSelector: { matchLabels: args.postgres.instances } };
      const operator: Peer = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': args.postgres.operatorNamespace } } };
      const tcp = (...ports: (number | string)[]) => ports.map((port) => ({ protocol: 'TCP', port }));
      new k8s.networking.v1.NetworkPolicy(
        `${name}-postgres`,
        {
          metadata: {
            name: 'postgres-from-app-exporter-instances-and-operator',
            namespace: args.namespace,
            labels: labelsFor('network-policy'),
          },
          spec: {
            podSelector: { matchLabels: args.postgres.instances },
            policyTypes: ['Ingress'],
            ingress: [
              { from: [fromPods(args.app.name), fromPods(args.postgresExporter.name), instances], ports: tcp(args.postgres.port) },
              { from: [operator], ports: tcp(args.postgres.port, 'status') },
              { from: [prometheus], ports: tcp('metrics') },
            ],
          },
        },
        childOptions(this, args.provider),
      );
    }
    allow('redis-from-app-and-exporter', args.redis, [fromPods(args.app.name, 'server'), fromPods(args.redisExporter.name)]);
    allow('postgres-exporter-from-prometheus', args.postgresExporter, [prometheus]);
    allow('redis-exporter-from-prometheus', args.redisExporter, [prometheus]);
    allow('pushgateway-from-prometheus-and-maintenance', args.pushgateway, [prometheus, fromPods(args.app.name, 'maintenance')]);
    if (args.alertmanager) allow('alertmanager-from-prometheus', args.alertmanager, [prometheus]);
    if (args.grafana && 'port' in args.prometheus) allow('prometheus-from-grafana', args.prometheus, [fromPods(args.grafana.name)]);
    if (args.grafana?.exposed) allow('grafana-from-ingress', args.grafana, [fromIngress]);
    this.registerOutputs({});
  }
}
