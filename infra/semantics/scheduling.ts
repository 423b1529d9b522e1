/**
 * Objects that steer other objects' pods: a PodDisruptionBudget that selects nothing (or that no drain can
 * satisfy), an autoscaler aimed at a missing workload or at pods without the CPU request its target is a share
 * of, a topology spread that counts other pods than its own, a StatefulSet naming a missing Service.
 */
import type { KubernetesObject } from '../offline';
import { containersOf, find, nameOf, namespaceOf, podTemplates, selects } from './model';

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
    for (const c of pod && byCpu ? containersOf(pod) : [])
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
  return problems;
}
