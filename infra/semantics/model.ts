/**
 * The rendered objects of a stack seen as a cluster would see them: pod templates with their labels and
 * ports, Services and what they select, ConfigMap/Secret keys, and how a host:port name resolves to pods.
 * Pure functions over the objects `runOffline(stack)` returns; the semantic checks build on these, on top of
 * the object model the policy rules share (infra/kube/model.ts).
 */
import { containersOf, podTemplateOf, type Container, type KubernetesObject, type Labels, type PodSpec } from '../kube/model';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes and Prometheus documents are walked structurally here. */

/** One workload's pod template: "the pods of Deployment x" as one node of the graph. */
export interface PodTemplate {
  /** Kind/name of the owning workload, e.g. "Deployment/event-service". */
  id: string;
  owner: KubernetesObject;
  namespace: string;
  labels: Labels;
  annotations: Labels;
  spec: PodSpec;
}

export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export const nameOf = (o: KubernetesObject) => `${o.kind}/${o.metadata.name}`;
export const namespaceOf = (o: KubernetesObject) => o.metadata.namespace ?? '';

export function podTemplates(objects: KubernetesObject[]): PodTemplate[] {
  return objects.flatMap((owner) => {
    const pod = podTemplateOf(owner);
    return pod ? [{ id: nameOf(owner), owner, namespace: namespaceOf(owner), ...pod }] : [];
  });
}

/** Kubernetes label-selector semantics: every matchLabels pair and every expression must hold; {} selects all. */
export function selects(selector: LabelSelector | undefined, labels: Labels): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    const ok = { In: inValues, NotIn: !inValues, Exists: has, DoesNotExist: !has }[e.operator];
    if (!ok) return false;
  }
  return true;
}

/** A Service's (or plain map) selector: a map of labels that must all match; an empty map selects nothing here. */
export const selectsByMap = (selector: Labels | undefined, labels: Labels) =>
  !!selector && Object.keys(selector).length > 0 && selects({ matchLabels: selector }, labels);

export function find(objects: KubernetesObject[], kind: string, name: string, namespace: string): KubernetesObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name && namespaceOf(o) === namespace);
}

/** The keys a ConfigMap or Secret holds. */
export function keysOf(obj: KubernetesObject): string[] {
  const maps = obj.kind === 'Secret' ? [obj.data, obj.stringData] : [obj.data, obj.binaryData];
  return maps.flatMap((m) => (m && typeof m === 'object' ? Object.keys(m) : []));
}

/** The pods a Service routes to (same namespace, selector matches). */
export function podsOfService(objects: KubernetesObject[], service: KubernetesObject): PodTemplate[] {
  const selector = (service.spec as any)?.selector as Labels | undefined;
  return podTemplates(objects).filter((p) => p.namespace === namespaceOf(service) && selectsByMap(selector, p.labels));
}

/** The container port a port reference (number or name) names in a pod, or undefined. */
export function resolveContainerPort(pod: PodTemplate, ref: number | string, container?: Container): number | undefined {
  const ports: { name?: string; containerPort: number }[] = (container ? [container] : containersOf(pod.spec)).flatMap(
    (c) => c.ports ?? [],
  );
  const found = ports.find((p) => (typeof ref === 'number' ? p.containerPort === ref : p.name === ref));
  return found?.containerPort;
}

/** Where traffic sent to a Service port lands: each selected pod and the container port its targetPort names. */
export function serviceEndpoints(objects: KubernetesObject[], service: KubernetesObject, port: number | string) {
  const sp = ((service.spec as any)?.ports ?? []).find((p: any) => (typeof port === 'number' ? p.port === port : p.name === port));
  if (!sp) return [];
  const target = sp.targetPort ?? sp.port;
  return podsOfService(objects, service).flatMap((pod) => {
    const containerPort = resolveContainerPort(pod, target);
    return containerPort === undefined ? [] : [{ pod, port: containerPort }];
  });
}

/**
 * The Service a DNS name means from inside `namespace`: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`,
 * or `pod.svc.ns.svc(.cluster.local)` of a headless Service (the pod's template stands for the pod).
 * Undefined for anything else (an external host).
 */
export function serviceForHost(objects: KubernetesObject[], host: string, namespace: string): KubernetesObject | undefined {
  const parts = host.replace(/\.$/, '').split('.');
  // <pod>.<headless Service>.<namespace>.svc…: a StatefulSet pod's own name, under the Service its serviceName names.
  const podSuffix = parts.slice(3).join('.');
  if (parts.length > 3 && (podSuffix === 'svc' || podSuffix === 'svc.cluster.local')) {
    const service = find(objects, 'Service', parts[1]!, parts[2]!);
    return (service?.spec as any)?.clusterIP === 'None' ? service : undefined;
  }
  const suffix = parts.slice(2).join('.');
  if (parts.length > 2 && suffix !== 'svc' && suffix !== 'svc.cluster.local') return undefined;
  return find(objects, 'Service', parts[0]!, parts[1] ?? namespace);
}

/** The pods and container port behind "host:port" of a Service, as a client in `namespace` would reach them. */
export function endpointsOfAddress(objects: KubernetesObject[], address: string, namespace: string) {
  const m = /^(.+):(\d+)$/.exec(address);
  if (!m) return [];
  const service = serviceForHost(objects, m[1]!, namespace);
  if (!service) return [];
  const port = Number(m[2]);
  // A headless Service's DNS name resolves to the pods themselves: the port is the pod's own.
  if ((service.spec as any)?.clusterIP === 'None')
    return podsOfService(objects, service).flatMap((pod) => (resolveContainerPort(pod, port) === undefined ? [] : [{ pod, port }]));
  return serviceEndpoints(objects, service, port);
}

/**
 * The label each workload controller puts on the pods of one revision (a Deployment's ReplicaSet, a Rollout's):
 * what matchLabelKeys names so that spread and anti-affinity count only pods of the same revision.
 */
export const REVISION_LABEL = { Deployment: 'pod-template-hash', Rollout: 'rollouts-pod-template-hash' } as const;
