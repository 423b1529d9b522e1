/**
 * The NetworkPolicy graph of a stack, computed with Kubernetes' semantics (a pod is isolated for a direction
 * once a policy of that type selects it; podSelector/namespaceSelector/ipBlock peers; numbered and named
 * ports; an absent `from`/`ports` allows all), compared with the flows the stack is meant to have.
 */
import { ipBlockAdmits, METADATA_ADDRESS, sampleAddress } from '../cidr';
import { containersOf, ingressPaths, type KubernetesObject, type Labels } from '../kube/model';
import type { EgressRule } from '../stack-schema';
import { scrapeFlows } from './discovery';
import { operatorTargets } from './operator';
import { namespaceOf, podTemplates, selects, selectsByMap, type LabelSelector, type PodTemplate } from './model';
import { analysisFlows, ROLLOUTS_CONTROLLER_PEER } from './rollout';
import { CERT_MANAGER_ANNOTATIONS } from './exposure';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes and Prometheus documents are walked structurally here. */

/** A traffic source: a pod template of the stack, or a peer outside it. */
export interface Endpoint {
  id: string;
  namespace: string;
  labels: Labels;
  pod?: PodTemplate;
  /** Outside the cluster: only ipBlock peers match it. */
  external?: boolean;
  /** Its address, when an ipBlock must decide (an egress destination outside the cluster). */
  ip?: string;
}

/** Where the stack's neighbours run: the ingress controller, and in operator mode the operator's Prometheus. */
export interface Neighbours {
  ingressNamespace: string;
  operatorNamespace?: string;
  /** The stack's egress setting: the addresses outside the namespace its pods are meant to reach. */
  egress?: { kubernetesApi: EgressRule; database?: EgressRule; alertReceivers?: EgressRule; objectStore?: EgressRule };
  /** Where the CloudNativePG operator runs, when the stack has an in-cluster database. */
  cnpgOperatorNamespace?: string;
}

/** Who is meant to reach each address of the egress setting. */
export const EGRESS_NEEDS: Record<
  'kubernetesApi' | 'database' | 'alertReceivers' | 'objectStore',
  { label: string; roles: (keyof typeof ROLES)[] }
> = {
  // Prometheus discovers the app's pods through the API server; CloudNativePG's instance manager runs on it.
  kubernetesApi: { label: 'the Kubernetes API', roles: ['prometheus', 'postgres'] },
  database: { label: 'the managed database', roles: ['app', 'migration', 'maintenance', 'backup', 'postgres-exporter'] },
  alertReceivers: { label: 'an alert receiver', roles: ['alertmanager'] },
  objectStore: { label: 'the backup object store', roles: ['postgres'] },
};

interface Port {
  port: number;
  protocol: 'TCP' | 'UDP';
}
/** A destination outside the stack's pod templates, with the ports it listens on. */
interface Destination extends Endpoint {
  ports: Port[];
}

export const KUBE_DNS_ID = 'kube-dns';
export const METADATA_ID = 'the cloud metadata address';

/**
 * Destinations outside the stack: kube-dns, another kube-system pod, another namespace's pod, the cloud metadata
 * address, an internet address, and one address of each rule of the egress setting.
 */
export function outsideDestinations(n: Neighbours): Destination[] {
  const tcp = (...ports: number[]): Port[] => ports.map((port) => ({ port, protocol: 'TCP' }));
  return [
    {
      id: KUBE_DNS_ID,
      namespace: 'kube-system',
      labels: { 'k8s-app': 'kube-dns' },
      ports: [
        { port: 53, protocol: 'UDP' },
        { port: 53, protocol: 'TCP' },
      ],
    },
    { id: 'metrics-server in kube-system', namespace: 'kube-system', labels: { 'k8s-app': 'metrics-server' }, ports: tcp(10250) },
    { id: 'a pod of another namespace', namespace: 'elsewhere', labels: {}, ports: tcp(8080) },
    { id: METADATA_ID, namespace: '', labels: {}, external: true, ip: METADATA_ADDRESS, ports: tcp(80) },
    { id: 'the internet', namespace: '', labels: {}, external: true, ip: '198.51.100.7', ports: tcp(80, 443, 5432) },
    ...(Object.keys(EGRESS_NEEDS) as (keyof typeof EGRESS_NEEDS)[]).flatMap((key) => {
      const rule = n.egress?.[key];
      if (!rule) return [];
      const ip = sampleAddress(rule.cidrs[0]!);
      return [{ id: `${EGRESS_NEEDS[key].label} (${ip})`, namespace: '', labels: {}, external: true, ip, ports: tcp(rule.port) }];
    }),
  ];
}

/** cert-manager's HTTP-01 solver pod: not rendered by the program, created per challenge in the Ingress's namespace. */
export const ACME_SOLVER_ID = 'Pod/cm-acme-http-solver';
function acmeSolvers(objects: KubernetesObject[]): PodTemplate[] {
  const namespaces = new Set(
    objects
      .filter((o) => o.kind === 'Ingress' && CERT_MANAGER_ANNOTATIONS.some((a) => a in (o.metadata.annotations ?? {})))
      .map(namespaceOf),
  );
  return [...namespaces].map((namespace) => {
    const labels = { 'acme.cert-manager.io/http01-solver': 'true' };
    const spec = { containers: [{ name: 'acmesolver', ports: [{ name: 'http', containerPort: 8089 }] }] };
    const owner = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'cm-acme-http-solver', namespace, labels }, spec };
    return { id: ACME_SOLVER_ID, owner, namespace, labels, annotations: {}, spec };
  });
}

/** The stack's pods as a cluster runs them: its pod templates, and the solver pods cert-manager adds. */
const stackPods = (objects: KubernetesObject[]) => [...podTemplates(objects), ...acmeSolvers(objects)];

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
    { id: ROLLOUTS_CONTROLLER_PEER.id, namespace: ROLLOUTS_CONTROLLER_PEER.namespace, labels: ROLLOUTS_CONTROLLER_PEER.labels },
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
  if (peer.ipBlock) return !!who.external && (who.ip === undefined || ipBlockAdmits(peer.ipBlock, who.ip));
  if (who.external) return false;
  const nsOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector as LabelSelector, namespaceLabels(objects, who.namespace))
    : who.namespace === policyNamespace;
  const podOk = peer.podSelector ? selects(peer.podSelector as LabelSelector, who.labels) : true;
  return nsOk && podOk;
}

/** Whether a policy's port list admits `protocol` to `port` of `dest` (named ports are the destination pod's). */
function portsAdmit(ports: any[] | undefined, dest: PodTemplate | undefined, { port, protocol }: Port): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'number') return p.endPort ? port >= p.port && port <= p.endPort : port === p.port;
    return (
      !!dest && containersOf(dest.spec).some((c) => (c.ports ?? []).some((cp: any) => cp.name === p.port && cp.containerPort === port))
    );
  });
}

const policyTypes = (p: any): string[] => p.spec?.policyTypes ?? ['Ingress', ...(p.spec?.egress ? ['Egress'] : [])];

function allowedOneWay(
  objects: KubernetesObject[],
  direction: 'Ingress' | 'Egress',
  subject: Endpoint,
  other: Endpoint,
  dest: PodTemplate | undefined,
  port: Port,
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
  /** TCP unless said. */
  protocol?: 'UDP';
}
export const flowKey = (f: Flow) => `${f.from} → ${f.to}:${f.port}${f.protocol ? `/${f.protocol}` : ''}`;
const flowOf = (from: string, to: string, { port, protocol }: Port): Flow => ({
  from,
  to,
  port,
  ...(protocol === 'UDP' ? { protocol } : {}),
});

const endpointOf = (pod: PodTemplate): Endpoint => ({ id: pod.id, namespace: pod.namespace, labels: pod.labels, pod });
const declaredPorts = (pod: PodTemplate): Port[] =>
  containersOf(pod.spec).flatMap((c) =>
    (c.ports ?? [])
      .filter((p: any) => (p.protocol ?? 'TCP') === 'TCP')
      .map((p: any) => ({ port: p.containerPort, protocol: 'TCP' as const })),
  );

/**
 * Every flow the policies allow: from each pod of the stack or outside peer to each declared TCP port of each pod
 * of the stack, and from each pod of the stack to each outside destination (egress).
 */
export function allowedFlows(objects: KubernetesObject[], n: Neighbours): Flow[] {
  const pods = stackPods(objects);
  const sources = [...pods.map(endpointOf), ...outsidePeers(n)];
  const flows: Flow[] = [];
  for (const dest of pods)
    for (const src of sources) {
      if (src.id === dest.id) continue; // a pod reaching its own pods is not a network flow we model
      for (const port of declaredPorts(dest))
        if (
          allowedOneWay(objects, 'Egress', src, endpointOf(dest), dest, port) &&
          allowedOneWay(objects, 'Ingress', endpointOf(dest), src, dest, port)
        )
          flows.push(flowOf(src.id, dest.id, port));
    }
  // Outside destinations: only the source's egress policies are ours.
  for (const dest of outsideDestinations(n))
    for (const src of pods.map(endpointOf))
      for (const port of dest.ports)
        if (allowedOneWay(objects, 'Egress', src, dest, undefined, port)) flows.push(flowOf(src.id, dest.id, port));
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
  'acme-solver': { 'acme.cert-manager.io/http01-solver': 'true' },
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
  // cert-manager's HTTP-01 challenge: the ACME server's request reaches the solver through the ingress controller.
  { from: 'ingress-controller', to: 'acme-solver', port: 'http' },
];

function roleMembers(objects: KubernetesObject[], role: string, n: Neighbours): Endpoint[] {
  if (role === 'ingress-controller' || role === CNPG_OPERATOR) return outsidePeers(n).filter((p) => p.id === role);
  return stackPods(objects)
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
        const port = containersOf(dst.pod!.spec)
          .flatMap((c) => c.ports ?? [])
          .find((p: any) => p.name === f.port)?.containerPort;
        if (port !== undefined && src.id !== dst.id) flows.push({ from: src.id, to: dst.id, port, why: `${f.from} → ${f.to}` });
      }
  }
  for (const s of scrapeFlows(objects)) flows.push({ from: s.from.id, to: s.to.id, port: s.port, why: `Prometheus ${s.why}` });
  for (const a of analysisFlows(objects)) flows.push({ from: ROLLOUTS_CONTROLLER_PEER.id, to: a.to.id, port: a.port, why: a.why });
  if (n.operatorNamespace)
    for (const t of operatorTargets(objects).filter((x) => x.ready))
      flows.push({ from: OPERATOR_PROMETHEUS, to: t.pod.id, port: t.port, why: t.via });
  // Egress: every pod resolves names; each address of the egress setting from the roles that need it.
  const outside = outsideDestinations(n);
  const dns = outside.find((d) => d.id === KUBE_DNS_ID)!;
  for (const pod of stackPods(objects))
    for (const port of dns.ports) flows.push({ ...flowOf(pod.id, dns.id, port), why: 'name resolution' });
  for (const [key, need] of Object.entries(EGRESS_NEEDS)) {
    const rule = n.egress?.[key as keyof typeof EGRESS_NEEDS];
    if (!rule) continue;
    for (const dest of outside.filter((d) => d.ip !== undefined && d.ip !== METADATA_ADDRESS))
      for (const port of dest.ports.filter((p) => p.port === rule.port))
        if (rule.cidrs.some((cidr) => ipBlockAdmits({ cidr, except: rule.except }, dest.ip!)))
          for (const role of need.roles)
            for (const src of roleMembers(objects, role, n))
              flows.push({ ...flowOf(src.id, dest.id, port), why: `${role} → ${need.label}` });
  }
  return flows;
}

/** Problems: expected flows the policies block, and allowed flows nobody intended. */
export function networkProblems(objects: KubernetesObject[], n: Neighbours, table?: IntendedFlow[]): string[] {
  const allowed = new Set(allowedFlows(objects, n).map(flowKey));
  const expected = expectedFlows(objects, n, table);
  const expectedKeys = new Set(expected.map(flowKey));
  const blocked = expected.filter((f) => !allowed.has(flowKey(f))).map((f) => `blocked but intended (${f.why}): ${flowKey(f)}`);
  const extra = [...allowed].filter((k) => !expectedKeys.has(k)).map((k) => `allowed but not intended: ${k}`);
  // Whatever the settings say: the metadata address hands out the node's cloud credentials.
  const metadata = [...allowed].filter((k) => k.includes(`→ ${METADATA_ID}:`)).map((k) => `reaches the cloud metadata address: ${k}`);
  return [...new Set([...blocked, ...extra, ...metadata])];
}
