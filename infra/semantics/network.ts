/**
 * The NetworkPolicy graph of a stack, computed with Kubernetes' semantics (a pod is isolated for a direction
 * once a policy of that type selects it; podSelector/namespaceSelector/ipBlock peers; numbered and named
 * ports; an absent `from`/`ports` allows all), compared with the flows the stack is meant to have.
 */
import type { KubernetesObject } from '../offline';
import { scrapeFlows } from './discovery';
import { operatorTargets } from './operator';
import { containersOf, namespaceOf, podTemplates, selects, selectsByMap, type LabelSelector, type Labels, type PodTemplate } from './model';
import { ingressPaths } from './wiring';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes and Prometheus documents are walked structurally here. */

/** A traffic source: a pod template of the stack, or a peer outside it. */
export interface Endpoint {
  id: string;
  namespace: string;
  labels: Labels;
  pod?: PodTemplate;
  /** Outside the cluster: only ipBlock peers match it. */
  external?: boolean;
}

/** Where the stack's neighbours run: the ingress controller, and in operator mode the operator's Prometheus. */
export interface Neighbours {
  ingressNamespace: string;
  operatorNamespace?: string;
  /** Where the CloudNativePG operator runs, when the stack has an in-cluster database. */
  cnpgOperatorNamespace?: string;
}

export const CNPG_OPERATOR = 'cnpg-operator';

export const OPERATOR_PROMETHEUS = "the operator's Prometheus";

/** Peers outside the stack that policies must be checked against. */
export function outsidePeers(n: Neighbours): Endpoint[] {
  return [
    { id: 'ingress-controller', namespace: n.ingressNamespace, labels: {} },
    // kube-prometheus-stack's Prometheus pods carry this name label.
    ...(n.operatorNamespace
      ? [{ id: OPERATOR_PROMETHEUS, namespace: n.operatorNamespace, labels: { 'app.kubernetes.io/name': 'prometheus' } }]
      : []),
    ...(n.cnpgOperatorNamespace
      ? [{ id: CNPG_OPERATOR, namespace: n.cnpgOperatorNamespace, labels: { 'app.kubernetes.io/name': 'cloudnative-pg' } }]
      : []),
    { id: 'a pod of another namespace', namespace: 'elsewhere', labels: {} },
    { id: 'outside the cluster', namespace: '', labels: {}, external: true },
  ];
}

function namespaceLabels(objects: KubernetesObject[], ns: string): Labels {
  const declared = objects.find((o) => o.kind === 'Namespace' && o.metadata.name === ns);
  return { ...(declared?.metadata.labels ?? {}), 'kubernetes.io/metadata.name': ns };
}

function peerMatches(objects: KubernetesObject[], peer: any, policyNamespace: string, who: Endpoint): boolean {
  if (peer.ipBlock) return !!who.external;
  if (who.external) return false;
  const nsOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector as LabelSelector, namespaceLabels(objects, who.namespace))
    : who.namespace === policyNamespace;
  const podOk = peer.podSelector ? selects(peer.podSelector as LabelSelector, who.labels) : true;
  return nsOk && podOk;
}

/** Whether a policy's port list admits TCP to `port` of `dest` (named ports are the destination pod's). */
function portsAdmit(ports: any[] | undefined, dest: PodTemplate, port: number): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== 'TCP') return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'number') return p.endPort ? port >= p.port && port <= p.endPort : port === p.port;
    return containersOf(dest).some((c) => (c.ports ?? []).some((cp: any) => cp.name === p.port && cp.containerPort === port));
  });
}

const policyTypes = (p: any): string[] => p.spec?.policyTypes ?? ['Ingress', ...(p.spec?.egress ? ['Egress'] : [])];

function allowedOneWay(
  objects: KubernetesObject[],
  direction: 'Ingress' | 'Egress',
  subject: Endpoint,
  other: Endpoint,
  dest: PodTemplate,
  port: number,
): boolean {
  if (!subject.pod) return true; // a peer outside the stack: its own policies are not ours to model
  const policies = objects.filter(
    (p) =>
      p.kind === 'NetworkPolicy' &&
      namespaceOf(p) === subject.namespace &&
      selects((p.spec as any)?.podSelector, subject.labels) &&
      policyTypes(p).includes(direction),
  );
  if (policies.length === 0) return true;
  const rulesKey = direction === 'Ingress' ? 'ingress' : 'egress';
  const peersKey = direction === 'Ingress' ? 'from' : 'to';
  return policies.some((p) =>
    ((p.spec as any)[rulesKey] ?? []).some((rule: any) => {
      const peers = rule[peersKey];
      const peerOk = !peers || peers.length === 0 || peers.some((peer: any) => peerMatches(objects, peer, namespaceOf(p), other));
      return peerOk && portsAdmit(rule.ports, dest, port);
    }),
  );
}

export interface Flow {
  from: string;
  to: string;
  port: number;
}
export const flowKey = (f: Flow) => `${f.from} → ${f.to}:${f.port}`;

const endpointOf = (pod: PodTemplate): Endpoint => ({ id: pod.id, namespace: pod.namespace, labels: pod.labels, pod });

/** Every flow the policies allow: from each pod template or outside peer to each declared TCP port of each pod template. */
export function allowedFlows(objects: KubernetesObject[], n: Neighbours): Flow[] {
  const pods = podTemplates(objects);
  const sources = [...pods.map(endpointOf), ...outsidePeers(n)];
  const flows: Flow[] = [];
  for (const dest of pods) {
    const ports = containersOf(dest).flatMap((c) => (c.ports ?? []).filter((p: any) => (p.protocol ?? 'TCP') === 'TCP'));
    for (const src of sources) {
      if (src.id === dest.id) continue; // a pod reaching its own pods is not a network flow we model
      for (const { containerPort } of ports)
        if (
          allowedOneWay(objects, 'Egress', src, endpointOf(dest), dest, containerPort) &&
          allowedOneWay(objects, 'Ingress', endpointOf(dest), src, dest, containerPort)
        )
          flows.push({ from: src.id, to: dest.id, port: containerPort });
    }
  }
  return flows;
}

/** The pods of the stack by the role they play (label selectors; a role may match nothing in a stack). */
export const ROLES: Record<string, Labels> = {
  app: { 'app.kubernetes.io/name': 'event-service', 'app.kubernetes.io/component': 'server' },
  migration: { 'app.kubernetes.io/name': 'event-service', 'app.kubernetes.io/component': 'migrate' },
  maintenance: { 'app.kubernetes.io/name': 'event-service', 'app.kubernetes.io/component': 'maintenance' },
  // CloudNativePG's instance pods (infra/semantics/cnpg.ts): the primary and the replicas.
  postgres: { 'cnpg.io/podRole': 'instance' },
  redis: { 'app.kubernetes.io/name': 'redis' },
  pushgateway: { 'app.kubernetes.io/name': 'pushgateway' },
  prometheus: { 'app.kubernetes.io/name': 'prometheus' },
  alertmanager: { 'app.kubernetes.io/name': 'alertmanager' },
  grafana: { 'app.kubernetes.io/name': 'grafana' },
  'postgres-exporter': { 'app.kubernetes.io/name': 'postgres-exporter' },
  'redis-exporter': { 'app.kubernetes.io/name': 'redis-exporter' },
};

export interface IntendedFlow {
  from: keyof typeof ROLES | 'ingress-controller' | typeof CNPG_OPERATOR;
  to: keyof typeof ROLES;
  /** The name of the destination's container port. */
  port: string;
  /** Further condition beyond "both ends exist", e.g. an Ingress routing to the destination. */
  when?: (objects: KubernetesObject[]) => boolean;
}

const routedByIngress = (service: string) => (objects: KubernetesObject[]) =>
  objects.some((o) => o.kind === 'Ingress' && ingressPaths(o).some((p) => p.backend?.service?.name === service));

/**
 * The flows the stack is meant to have; each is expected exactly when both of its ends exist in the stack.
 * Prometheus → each of its scrape and alerting targets is added from its rendered configuration.
 */
export const INTENDED_FLOWS: IntendedFlow[] = [
  { from: 'ingress-controller', to: 'app', port: 'http' },
  { from: 'ingress-controller', to: 'grafana', port: 'http', when: routedByIngress('grafana') },
  { from: 'app', to: 'postgres', port: 'postgresql' },
  { from: 'app', to: 'redis', port: 'redis' },
  { from: 'migration', to: 'postgres', port: 'postgresql' },
  { from: 'maintenance', to: 'postgres', port: 'postgresql' },
  // The maintenance job pushes its metrics; the server has nothing to push.
  { from: 'maintenance', to: 'pushgateway', port: 'http' },
  // Streaming replication between the instances; the operator drives them (SQL and the instance manager).
  { from: 'postgres', to: 'postgres', port: 'postgresql' },
  { from: CNPG_OPERATOR, to: 'postgres', port: 'postgresql' },
  { from: CNPG_OPERATOR, to: 'postgres', port: 'status' },
  { from: 'postgres-exporter', to: 'postgres', port: 'postgresql' },
  { from: 'redis-exporter', to: 'redis', port: 'redis' },
  { from: 'grafana', to: 'prometheus', port: 'http' },
];

function roleMembers(objects: KubernetesObject[], role: string, n: Neighbours): Endpoint[] {
  if (role === 'ingress-controller' || role === CNPG_OPERATOR) return outsidePeers(n).filter((p) => p.id === role);
  return podTemplates(objects)
    .filter((p) => selectsByMap(ROLES[role], p.labels))
    .map(endpointOf);
}

/** The flows expected in this stack, each with the reason it is expected. */
export function expectedFlows(
  objects: KubernetesObject[],
  n: Neighbours,
  table: IntendedFlow[] = INTENDED_FLOWS,
): (Flow & { why: string })[] {
  const flows: (Flow & { why: string })[] = [];
  for (const f of table) {
    if (f.when && !f.when(objects)) continue;
    for (const src of roleMembers(objects, f.from, n))
      for (const dst of roleMembers(objects, f.to, n)) {
        const port = containersOf(dst.pod!)
          .flatMap((c) => c.ports ?? [])
          .find((p: any) => p.name === f.port)?.containerPort;
        if (port !== undefined && src.id !== dst.id) flows.push({ from: src.id, to: dst.id, port, why: `${f.from} → ${f.to}` });
      }
  }
  for (const s of scrapeFlows(objects)) flows.push({ from: s.from.id, to: s.to.id, port: s.port, why: `Prometheus ${s.why}` });
  if (n.operatorNamespace)
    for (const t of operatorTargets(objects).filter((x) => x.ready))
      flows.push({ from: OPERATOR_PROMETHEUS, to: t.pod.id, port: t.port, why: t.via });
  return flows;
}

/** Problems: expected flows the policies block, and allowed flows nobody intended. */
export function networkProblems(objects: KubernetesObject[], n: Neighbours, table?: IntendedFlow[]): string[] {
  const allowed = new Set(allowedFlows(objects, n).map(flowKey));
  const expected = expectedFlows(objects, n, table);
  const expectedKeys = new Set(expected.map(flowKey));
  const blocked = expected.filter((f) => !allowed.has(flowKey(f))).map((f) => `blocked but intended (${f.why}): ${flowKey(f)}`);
  const extra = [...allowed].filter((k) => !expectedKeys.has(k)).map((k) => `allowed but not intended: ${k}`);
  return [...new Set([...blocked, ...extra])];
}
