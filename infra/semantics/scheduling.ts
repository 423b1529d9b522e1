/**
 * Objects that steer other objects' pods: a PodDisruptionBudget that selects nothing (or that no drain can
 * satisfy), an autoscaler aimed at a missing workload or at pods without the CPU request its target is a share
 * of, a topology spread that counts other pods than its own, a StatefulSet naming a missing Service; and a
 * rolling update and a node drain played on a modelled cluster with a tainted node, as the scheduler and the
 * Deployment and disruption controllers would run them.
 */
import { containersOf, type KubernetesObject } from '../kube/model';
import { find, nameOf, namespaceOf, podTemplates, REVISION_LABEL, selects } from './model';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are walked structurally here. */

export function schedulingProblems(objects: KubernetesObject[]): string[] {
  const problems: string[] = [];
  const pods = podTemplates(objects);
  const hpaOf = (kind: string, name: string, ns: string) =>
    objects.find(
      (h) =>
        h.kind === 'HorizontalPodAutoscaler' &&
        namespaceOf(h) === ns &&
        (h.spec as any)?.scaleTargetRef?.kind === kind &&
        (h.spec as any)?.scaleTargetRef?.name === name,
    );

  for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
    const spec = pdb.spec as any;
    const covered = pods.filter((p) => p.namespace === namespaceOf(pdb) && selects(spec?.selector, p.labels));
    if (covered.length === 0) problems.push(`${nameOf(pdb)}: its selector matches no pod template of the stack`);
    if (spec?.maxUnavailable === 0) problems.push(`${nameOf(pdb)}: maxUnavailable 0 blocks every node drain`);
    for (const pod of covered) {
      const hpa = hpaOf(pod.owner.kind, pod.owner.metadata.name, pod.namespace);
      const fewest = (hpa?.spec as any)?.minReplicas ?? (pod.owner.spec as any)?.replicas ?? 1;
      if (typeof spec?.minAvailable === 'number' && spec.minAvailable >= fewest)
        problems.push(
          `${nameOf(pdb)}: minAvailable ${spec.minAvailable} with as few as ${fewest} replica(s) of ${pod.id} blocks every node drain`,
        );
    }
  }

  for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const ref = (hpa.spec as any)?.scaleTargetRef ?? {};
    const target = find(objects, ref.kind, ref.name, namespaceOf(hpa));
    if (!target) {
      problems.push(`${nameOf(hpa)}: scales ${ref.kind} ${ref.name}, which the stack does not declare`);
      continue;
    }
    const pod = pods.find((p) => p.owner === target);
    const byCpu = ((hpa.spec as any)?.metrics ?? []).some(
      (m: any) => m.resource?.name === 'cpu' && m.resource?.target?.type === 'Utilization',
    );
    for (const c of pod && byCpu ? containersOf(pod.spec) : [])
      if (!c.resources?.requests?.cpu)
        problems.push(`${nameOf(hpa)}: container ${c.name} of ${pod!.id} requests no CPU, so utilization is undefined`);
    if ((target.spec as any)?.replicas !== undefined)
      problems.push(`${nameOf(hpa)}: ${nameOf(target)} also sets spec.replicas, so every deploy resets the autoscaler's count`);
  }

  for (const pod of pods) {
    for (const t of pod.spec.topologySpreadConstraints ?? [])
      if (!selects(t.labelSelector, pod.labels))
        problems.push(`${pod.id}: its topology spread over ${t.topologyKey} counts pods that do not include its own`);
    const serviceName = (pod.owner.spec as any)?.serviceName;
    if (pod.owner.kind === 'StatefulSet' && serviceName && !find(objects, 'Service', serviceName, pod.namespace))
      problems.push(`${pod.id}: serviceName ${serviceName} is not a Service of the stack`);
  }
  return [...problems, ...rolloutProblems(objects)];
}

/** A node of the modelled cluster: a tainted node (NoSchedule, e.g. the control plane) takes none of our pods. */
export interface Node {
  name: string;
  tainted: boolean;
  cordoned?: boolean;
}
interface Placed {
  revision: number;
  node?: string; // undefined: Pending
}

/**
 * The kube-scheduler's filters that decide whether a pod of `revision` fits on a node: taints (our pods tolerate
 * none), required pod anti-affinity on the hostname, and DoNotSchedule topology spread on the hostname, each
 * term counting the pods its labelSelector (and matchLabelKeys: the same revision) selects. The spread's domains
 * are every node unless nodeTaintsPolicy is Honor (Kubernetes' default is Ignore: a tainted node counts, with 0).
 */
function fits(spec: any, nodes: Node[], pods: Placed[], revision: number, node: Node, revisionLabel: string): boolean {
  if (node.tainted || node.cordoned) return false;
  const counted = (term: any) =>
    pods.filter((p) => p.node && (!(term.matchLabelKeys ?? []).includes(revisionLabel) || p.revision === revision));
  const onNode = (term: any, name: string) => counted(term).filter((p) => p.node === name).length;
  for (const term of spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [])
    if (term.topologyKey === 'kubernetes.io/hostname' && onNode(term, node.name) > 0) return false;
  for (const t of spec.topologySpreadConstraints ?? []) {
    if (t.topologyKey !== 'kubernetes.io/hostname' || t.whenUnsatisfiable !== 'DoNotSchedule') continue;
    const domains = nodes.filter((n) => (t.nodeTaintsPolicy === 'Honor' ? !n.tainted : true));
    const min = Math.min(...domains.map((d) => onNode(t, d.name)));
    if (onNode(t, node.name) + 1 - min > t.maxSkew) return false;
  }
  return true;
}

/** The pod spec of a Deployment's or a Rollout's revisions, and the label that tells those revisions apart. */
function revisionsOf(workload: KubernetesObject): { spec: any; label: string } {
  const kind = workload.kind as keyof typeof REVISION_LABEL;
  return { spec: (workload.spec as any)?.template?.spec ?? {}, label: REVISION_LABEL[kind] ?? REVISION_LABEL.Deployment };
}

function scheduleAt(spec: any, nodes: Node[], pods: Placed[], revision: number, revisionLabel: string): Placed {
  // Among fitting nodes the scheduler prefers the emptiest (spread scoring); the model takes the first such.
  const fitting = nodes.filter((n) => fits(spec, nodes, pods, revision, n, revisionLabel));
  const count = (n: Node) => pods.filter((p) => p.node === n.name).length;
  const best = fitting.sort((a, b) => count(a) - count(b))[0];
  return { revision, node: best?.name };
}

const absolute = (v: number | string | undefined, replicas: number, round: (x: number) => number, fallback: number) =>
  v === undefined ? fallback : typeof v === 'number' ? v : round((replicas * parseInt(v, 10)) / 100);

/**
 * A rolling update of a Deployment of `replicas` pods on `nodes`, as the Deployment controller runs it: surge new
 * pods up to replicas + maxSurge, stop old ones while at least replicas − maxUnavailable are available (a Pending
 * pod is not). Undefined when it completes; otherwise why it stalls.
 */
export function rolloutStall(deployment: KubernetesObject, replicas: number, nodes: Node[]): string | undefined {
  const { spec, label } = revisionsOf(deployment);
  const schedule = (s: any, n: Node[], p: Placed[], r: number) => scheduleAt(s, n, p, r, label);
  // A Rollout's canary surges like a rolling update: maxSurge/maxUnavailable of its canary strategy.
  const strategy = (deployment.spec as any)?.strategy ?? {};
  const ru = strategy.rollingUpdate ?? strategy.canary ?? {};
  const maxSurge = absolute(ru.maxSurge, replicas, Math.ceil, Math.ceil(replicas / 4));
  const maxUnavailable = absolute(ru.maxUnavailable, replicas, Math.floor, Math.floor(replicas / 4));
  const pods: Placed[] = [];
  for (let i = 0; i < replicas; i++) pods.push(schedule(spec, nodes, pods, 0));
  if (pods.some((p) => !p.node)) return `${replicas} replicas do not all fit before any rollout`;
  for (let step = 0; step < 4 * replicas + 4; step++) {
    const olds = pods.filter((p) => p.revision === 0);
    const news = pods.filter((p) => p.revision === 1);
    if (olds.length === 0 && news.length === replicas && news.every((p) => p.node)) return undefined;
    // A Pending new pod gets another chance each round (a node may have been freed).
    for (const p of news.filter((x) => !x.node))
      p.node = schedule(
        spec,
        nodes,
        pods.filter((x) => x !== p),
        1,
      ).node;
    if (pods.length < replicas + maxSurge && news.length < replicas) pods.push(schedule(spec, nodes, pods, 1));
    const available = pods.filter((p) => p.node).length;
    const removable = olds.length && available - 1 >= replicas - maxUnavailable;
    if (removable) pods.splice(pods.indexOf(olds[0]!), 1);
  }
  const pending = pods.filter((p) => !p.node).length;
  return `the rollout stalls with ${pods.filter((p) => p.revision === 0).length} old pod(s) left and ${pending} new pod(s) Pending`;
}

/**
 * Draining each schedulable node in turn (cordon, evict what the budget allows, the Deployment recreating each
 * evicted pod): undefined when every drain completes, otherwise why one does not.
 */
export function drainStall(
  deployment: KubernetesObject,
  pdb: KubernetesObject | undefined,
  replicas: number,
  nodes: Node[],
): string | undefined {
  const { spec, label } = revisionsOf(deployment);
  const schedule = (s: any, n: Node[], p: Placed[], r: number) => scheduleAt(s, n, p, r, label);
  const budget = (pdb?.spec as any) ?? {};
  const desiredHealthy =
    budget.minAvailable !== undefined
      ? absolute(budget.minAvailable, replicas, Math.ceil, 0)
      : replicas - absolute(budget.maxUnavailable, replicas, Math.floor, replicas);
  const pods: Placed[] = [];
  for (let i = 0; i < replicas; i++) pods.push(schedule(spec, nodes, pods, 0));
  for (const node of nodes.filter((n) => !n.tainted)) {
    node.cordoned = true;
    for (let guard = 0; pods.some((p) => p.node === node.name) && guard < replicas + 1; guard++) {
      for (const p of pods.filter((x) => !x.node))
        p.node = schedule(
          spec,
          nodes,
          pods.filter((x) => x !== p),
          0,
        ).node;
      const healthy = pods.filter((p) => p.node).length;
      if (healthy - 1 < desiredHealthy) break;
      pods.find((p) => p.node === node.name)!.node = undefined;
      const evicted = pods.find((p) => !p.node)!;
      evicted.node = schedule(
        spec,
        nodes,
        pods.filter((x) => x !== evicted),
        0,
      ).node;
    }
    if (pods.some((p) => p.node === node.name)) return `draining ${node.name} stalls: the budget allows no eviction`;
    node.cordoned = false;
  }
  return undefined;
}

/** The modelled cluster for a workload of `replicas`: one tainted node and at least two, or `replicas`, schedulable ones. */
export function clusterFor(replicas: number): Node[] {
  return [
    { name: 'tainted', tainted: true },
    ...Array.from({ length: Math.max(2, replicas) }, (_, i) => ({ name: `node-${i + 1}`, tainted: false })),
  ];
}

/** Rollouts and drains of each Deployment or Argo Rollout that runs several replicas, on the modelled cluster. */
export function rolloutProblems(objects: KubernetesObject[]): string[] {
  const problems: string[] = [];
  for (const d of objects.filter((o) => o.kind in REVISION_LABEL)) {
    const hpa = objects.find(
      (h) =>
        h.kind === 'HorizontalPodAutoscaler' &&
        namespaceOf(h) === namespaceOf(d) &&
        (h.spec as any)?.scaleTargetRef?.name === d.metadata.name,
    );
    const replicas = (hpa?.spec as any)?.minReplicas ?? (d.spec as any)?.replicas ?? 1;
    if (replicas < 2) continue;
    const pod = podTemplates([d])[0]!;
    const pdb = objects.find(
      (p) => p.kind === 'PodDisruptionBudget' && namespaceOf(p) === namespaceOf(d) && selects((p.spec as any)?.selector, pod.labels),
    );
    const nodes = clusterFor(replicas);
    const where = `${nameOf(d)} (${replicas} replicas, ${nodes.length} nodes, one tainted)`;
    const rollout = rolloutStall(d, replicas, nodes);
    if (rollout) problems.push(`${where}: ${rollout}`);
    const drain = drainStall(d, pdb, replicas, clusterFor(replicas));
    if (drain) problems.push(`${where}: ${drain}`);
    if (!(d.spec as any)?.minReadySeconds)
      problems.push(`${nameOf(d)}: no minReadySeconds, so a pod that fails right after its first Ready already counts as available`);
    const budget = pdb?.spec as any;
    if (budget?.minAvailable !== undefined && replicas - absolute(budget.minAvailable, replicas, Math.ceil, 0) > 1)
      problems.push(
        `${nameOf(pdb!)}: minAvailable lets a drain take ${replicas - absolute(budget.minAvailable, replicas, Math.ceil, 0)} replicas of ${nameOf(d)} at once`,
      );
  }
  return problems;
}
