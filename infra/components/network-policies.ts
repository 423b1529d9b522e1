/**
 * Who may talk to whom: ingress and egress are denied in the namespace unless a rule below allows them.
 * Egress: every pod resolves names through kube-dns and reaches the namespace's pods (whose ingress rules
 * decide); beyond that only the addresses of the stack's egress setting, each to the workloads that need it.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { cidrWithin, METADATA_ADDRESS } from '../cidr';
import type { EgressRule } from '../stack-schema';
import { labelsFor, selectorFor } from './workload';

type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;

type EgressRuleInput = k8s.types.input.networking.v1.NetworkPolicyEgressRule;

/** cert-manager labels its HTTP-01 solver pods so, and they listen on this port. */
export const ACME_SOLVER_LABEL = 'acme.cert-manager.io/http01-solver';
export const ACME_SOLVER_PORT = 8089;
/** CoreDNS keeps kube-dns' label in kubeadm, EKS, GKE and AKS clusters. */
export const KUBE_DNS = { 'k8s-app': 'kube-dns' };

/** The ipBlocks of a setting, the metadata address excepted from each block that contains it. */
function toAddresses(rule: EgressRule): EgressRuleInput {
  const metadata = `${METADATA_ADDRESS}/32`;
  return {
    to: rule.cidrs.map((cidr) => {
      const except = [...rule.except, ...(cidrWithin(metadata, cidr) ? [metadata] : [])].filter((e) => cidrWithin(e, cidr));
      return { ipBlock: { cidr, ...(except.length ? { except } : {}) } };
    }),
    ports: [{ protocol: 'TCP', port: rule.port }],
  };
}

export interface NetworkPoliciesArgs {
  namespace: pulumi.Input<string>;
  ingressNamespace: string;
  app: { name: string; port: number };
  /** The in-cluster database: CloudNativePG's instance pods (their labels and ports), and where its operator runs. */
  postgres?: { instances: Record<string, string>; port: number; portNames: { metrics: string; status: string }; operatorNamespace: string };
  redis: { name: string; port: number };
  /** Our own Prometheus, or (operator mode) the namespace of the operator's, whose pods are named prometheus. */
  prometheus: { name: string; port: number } | { operatorNamespace: string };
  pushgateway: { name: string; port: number };
  postgresExporter: { name: string; port: number };
  redisExporter: { name: string; port: number };
  /** Absent in operator mode (the operator's run elsewhere). */
  alertmanager?: { name: string; port: number; /** Replicas gossip on it (TCP and UDP) when there are several. */ clusterPort?: number };
  grafana?: { name: string; port: number; exposed: boolean };
  /** Bundled mode's own kube-state-metrics (operator mode uses the cluster's). */
  kubeStateMetrics?: { name: string; port: number };
  /** Some Ingress has cert-manager issue its certificate: an HTTP-01 solver pod must be reachable. */
  acmeSolver: boolean;
  /** The stack's egress setting: addresses outside the namespace, by who needs them. */
  egress: { kubernetesApi: EgressRule; database?: EgressRule; alertReceivers?: EgressRule; objectStore?: EgressRule };
  /** The pods' name labels that connect to an external database (absent: the database is in the namespace). */
  databaseClients?: string[];
}

type PolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;
/** One NetworkPolicy: its name, its spec, and (when it differs from `<component>-<name>`) its Pulumi resource name. */
interface Policy {
  name: string;
  spec: PolicySpec;
  resource?: string;
}

/** Who the ingress rules admit: pods of the namespace by name, the ingress controller's namespace, and Prometheus. */
function peersOf(args: NetworkPoliciesArgs) {
  const fromPods = (app: string, component?: string): Peer => ({ podSelector: { matchLabels: selectorFor(app, component) } });
  const fromIngress: Peer = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': args.ingressNamespace } } };
  // Prometheus is ours, or the operator's.
  const prometheus: Peer =
    'operatorNamespace' in args.prometheus
      ? {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': args.prometheus.operatorNamespace } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
        }
      : fromPods(args.prometheus.name);
  return { fromPods, fromIngress, prometheus };
}
type Peers = ReturnType<typeof peersOf>;

/** `from` may reach the target's pods (those of `component`, if given) on its port. */
const allow = (name: string, target: { name: string; port: number }, from: Peer[], component?: string): Policy => ({
  name,
  spec: {
    podSelector: { matchLabels: selectorFor(target.name, component) },
    policyTypes: ['Ingress'],
    ingress: [{ from, ports: [{ protocol: 'TCP', port: target.port }] }],
  },
});

/**
 * Every pod of the app's image (server, migration, maintenance) uses the database; only the server uses Redis, and
 * only the maintenance job pushes metrics. The exporters read the databases' statistics; only Prometheus reads the
 * exporters.
 */
function serviceIngress(args: NetworkPoliciesArgs, { fromPods, fromIngress, prometheus }: Peers): Policy[] {
  return [
    { name: 'default-deny-ingress', spec: { podSelector: {}, policyTypes: ['Ingress'] } },
    allow('app-from-ingress-and-prometheus', args.app, [fromIngress, prometheus], 'server'),
    ...(args.postgres ? [postgresIngress(args, args.postgres, { fromPods, fromIngress, prometheus })] : []),
    allow('redis-from-app-and-exporter', args.redis, [fromPods(args.app.name, 'server'), fromPods(args.redisExporter.name)]),
    allow('postgres-exporter-from-prometheus', args.postgresExporter, [prometheus]),
    allow('redis-exporter-from-prometheus', args.redisExporter, [prometheus]),
    allow('pushgateway-from-prometheus-and-maintenance', args.pushgateway, [prometheus, fromPods(args.app.name, 'maintenance')]),
  ];
}

/**
 * The in-cluster database's instances replicate from one another; the operator reaches PostgreSQL and each instance
 * manager's status port; Prometheus reads the instance managers' metrics (backups and WAL archiving included).
 */
function postgresIngress(args: NetworkPoliciesArgs, postgres: NonNullable<NetworkPoliciesArgs['postgres']>, peers: Peers): Policy {
  const instances: Peer = { podSelector: { matchLabels: postgres.instances } };
  const operator: Peer = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': postgres.operatorNamespace } } };
  const tcp = (...ports: (number | string)[]) => ports.map((port) => ({ protocol: 'TCP', port }));
  return {
    name: 'postgres-from-app-exporter-instances-and-operator',
    resource: 'postgres',
    spec: {
      podSelector: { matchLabels: postgres.instances },
      policyTypes: ['Ingress'],
      ingress: [
        { from: [peers.fromPods(args.app.name), peers.fromPods(args.postgresExporter.name), instances], ports: tcp(postgres.port) },
        { from: [operator], ports: tcp(postgres.port, postgres.portNames.status) },
        { from: [peers.prometheus], ports: tcp(postgres.portNames.metrics) },
      ],
    },
  };
}

/** Bundled monitoring's own Alertmanager, kube-state-metrics and Grafana, and cert-manager's HTTP-01 solver. */
function monitoringIngress(args: NetworkPoliciesArgs, { fromPods, fromIngress, prometheus }: Peers): Policy[] {
  const { alertmanager, grafana } = args;
  return [
    ...(alertmanager ? [allow('alertmanager-from-prometheus', alertmanager, [prometheus])] : []),
    ...(args.kubeStateMetrics ? [allow('kube-state-metrics-from-prometheus', args.kubeStateMetrics, [prometheus])] : []),
    ...(alertmanager?.clusterPort
      ? [
          {
            name: 'alertmanager-gossip',
            spec: {
              podSelector: { matchLabels: selectorFor(alertmanager.name) },
              policyTypes: ['Ingress'],
              ingress: [
                {
                  from: [fromPods(alertmanager.name)],
                  ports: ['TCP', 'UDP'].map((protocol) => ({ protocol, port: alertmanager.clusterPort! })),
                },
              ],
            },
          },
        ]
      : []),
    ...(grafana && 'port' in args.prometheus ? [allow('prometheus-from-grafana', args.prometheus, [fromPods(grafana.name)])] : []),
    ...(grafana?.exposed ? [allow('grafana-from-ingress', grafana, [fromIngress])] : []),
    // cert-manager's HTTP-01 solver pod (created in this namespace per challenge) answers the ACME server
    // through the ingress controller; DNS-01 issuers start no pod and need no rule (docs/deploy.md).
    ...(args.acmeSolver
      ? [
          {
            name: 'acme-solver-from-ingress',
            spec: {
              podSelector: { matchLabels: { [ACME_SOLVER_LABEL]: 'true' } },
              policyTypes: ['Ingress'],
              ingress: [{ from: [fromIngress], ports: [{ protocol: 'TCP', port: ACME_SOLVER_PORT }] }],
            },
          },
        ]
      : []),
  ];
}

/** Egress: kube-dns and the namespace's pods for everyone; beyond that, each workload only what it needs. */
function egressPolicies(args: NetworkPoliciesArgs): Policy[] {
  const egress = (name: string, podSelector: k8s.types.input.meta.v1.LabelSelector, rules: EgressRuleInput[]): Policy => ({
    name,
    spec: { podSelector, policyTypes: ['Egress'], egress: rules },
  });
  const dnsAndNamespace: EgressRuleInput[] = [
    {
      to: [
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: KUBE_DNS } },
      ],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    },
    { to: [{ podSelector: {} }] },
  ];
  const { egress: to, postgres, alertmanager, databaseClients } = args;
  return [
    egress('default-deny-egress', {}, []),
    egress('egress-to-dns-and-namespace', {}, dnsAndNamespace),
    ...('port' in args.prometheus
      ? [egress('prometheus-to-kubernetes-api', { matchLabels: selectorFor(args.prometheus.name) }, [toAddresses(to.kubernetesApi)])]
      : []),
    // CloudNativePG's instance manager talks to the API server; the instances archive WAL to the object store.
    ...(postgres
      ? [
          egress('postgres-to-kubernetes-api-and-object-store', { matchLabels: postgres.instances }, [
            toAddresses(to.kubernetesApi),
            ...(to.objectStore ? [toAddresses(to.objectStore)] : []),
          ]),
        ]
      : []),
    ...(alertmanager && to.alertReceivers
      ? [egress('alertmanager-to-receivers', { matchLabels: selectorFor(alertmanager.name) }, [toAddresses(to.alertReceivers)])]
      : []),
    ...(databaseClients && to.database
      ? [
          egress(
            'database-clients-to-database',
            { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: databaseClients }] },
            [toAddresses(to.database)],
          ),
        ]
      : []),
  ];
}

export class NetworkPolicies extends pulumi.ComponentResource {
  /** The policies are created as its children: give the provider in `opts`, they inherit it. */
  constructor(name: string, args: NetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:network:NetworkPolicies', name, {}, opts);
    const peers = peersOf(args);
    for (const policy of [...serviceIngress(args, peers), ...monitoringIngress(args, peers), ...egressPolicies(args)])
      new k8s.networking.v1.NetworkPolicy(
        `${name}-${policy.resource ?? policy.name}`,
        { metadata: { name: policy.name, namespace: args.namespace, labels: labelsFor('network-policy') }, spec: policy.spec },
        { parent: this },
      );
    this.registerOutputs({});
  }
}
