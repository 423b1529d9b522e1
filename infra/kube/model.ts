/**
 * The Kubernetes object model that the policy rules (infra/policies: what may be deployed) and the
 * cluster-semantics checks (infra/semantics: what the cluster will do) both read: the object shape, where a
 * workload keeps its pod template, its containers, and a container's effective security settings.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are walked structurally here. */

/** A Kubernetes object as the program declares it (apiVersion, kind, metadata, spec/data…). */
export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export type Labels = Record<string, string>;
export type PodSpec = any;
export type Container = any;

/** A workload's pod template: the labels and annotations its pods get, and their spec. */
export interface PodTemplateOf {
  labels: Labels;
  annotations: Labels;
  spec: PodSpec;
}

/** Where each workload kind keeps the template of its pods; a Pod is its own template. */
function templateOf(obj: KubernetesObject): { metadata?: { labels?: Labels; annotations?: Labels }; spec?: PodSpec } | undefined {
  const spec = obj.spec as any;
  switch (obj.kind) {
    case 'Pod':
      return { metadata: obj.metadata, spec };
    // Argo Rollouts' Rollout holds a Deployment's pod template.
    case 'Deployment':
    case 'Rollout':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job':
      return spec?.template ?? {};
    case 'CronJob':
      return spec?.jobTemplate?.spec?.template ?? {};
    default:
      return undefined;
  }
}

/** The pod template of a workload, or undefined when the object runs no pods. */
export function podTemplateOf(obj: KubernetesObject): PodTemplateOf | undefined {
  const template = templateOf(obj);
  if (!template) return undefined;
  return { labels: template.metadata?.labels ?? {}, annotations: template.metadata?.annotations ?? {}, spec: template.spec ?? {} };
}

/** Every container of a pod spec, init containers first (the order the kubelet starts them). */
export function containersOf(spec: PodSpec): Container[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

/** A container's security setting, falling back to the pod's (as the kubelet does). */
export const effectiveSecurity = (container: Container, spec: PodSpec, field: string): any =>
  container.securityContext?.[field] ?? spec.securityContext?.[field];

/** Every path of an Ingress with its rule's host (a path without one is "/", as the API server defaults it). */
export function ingressPaths(ingress: KubernetesObject): { host?: string; path: string; pathType: string; backend: any }[] {
  return ((ingress.spec as any)?.rules ?? []).flatMap((r: any) =>
    (r.http?.paths ?? []).map((p: any) => ({ host: r.host, path: p.path ?? '/', pathType: p.pathType, backend: p.backend })),
  );
}

/** The hosts of an Ingress (a rule without one: "*") that no spec.tls entry serves from a named Secret. */
export function hostsWithoutTls(ingress: KubernetesObject): string[] {
  const spec = ingress.spec as { rules?: { host?: string }[]; tls?: { hosts?: string[]; secretName?: string }[] } | undefined;
  const covered = new Set((spec?.tls ?? []).filter((t) => t.secretName).flatMap((t) => t.hosts ?? []));
  return (spec?.rules ?? []).map((r) => r.host ?? '*').filter((h) => !covered.has(h));
}
