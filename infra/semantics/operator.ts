/**
 * Operator mode: the Prometheus Operator's monitors (PodMonitor, ServiceMonitor) of a stack, evaluated as the
 * Prometheus they configure would: pods (or a Service's endpoints, not-ready addresses included) matching the
 * selector, the named port, the monitor's relabelings, each pod both Ready and not Ready.
 */
import { containersOf, type KubernetesObject, type Labels } from '../kube/model';
import { podMeta, podNameOf, relabel, type Target } from './discovery';
import { nameOf, namespaceOf, podTemplates, selects, serviceEndpoints, type PodTemplate } from './model';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are walked structurally here. */

/** A RelabelConfig of the operator's CRDs (camelCase) as Prometheus' configuration spells it. */
const asPrometheus = (r: any) => ({
  action: typeof r.action === 'string' ? r.action.toLowerCase() : undefined,
  source_labels: r.sourceLabels,
  target_label: r.targetLabel,
  regex: r.regex,
  replacement: r.replacement,
  separator: r.separator,
});

function inScope(monitor: KubernetesObject, ns: string): boolean {
  const sel = (monitor.spec as any)?.namespaceSelector;
  if (sel?.any) return true;
  return (sel?.matchNames ?? [namespaceOf(monitor)]).includes(ns);
}

function target(monitor: KubernetesObject, endpoint: any, pod: PodTemplate, port: number, ready: boolean, meta: Labels): Target[] {
  const path = endpoint.path ?? '/metrics';
  const address = `${podNameOf(pod)}.pod:${port}`;
  const base = { ...podMeta(pod, ready), ...meta, __address__: address, __metrics_path__: path, job: nameOf(monitor) };
  const labels = relabel(base, (endpoint.relabelings ?? []).map(asPrometheus));
  if (!labels) return [];
  return [
    {
      job: labels.job ?? '',
      pod,
      port,
      metricsPath: labels.__metrics_path__ ?? path,
      instance: labels.instance ?? address,
      via: nameOf(monitor),
      ready,
    },
  ];
}

/** Every target the monitors of the stack give the operator's Prometheus. */
export function operatorTargets(objects: KubernetesObject[]): Target[] {
  const targets: Target[] = [];
  for (const m of objects.filter((o) => o.kind === 'PodMonitor')) {
    const spec = m.spec as any;
    for (const pod of podTemplates(objects).filter((p) => inScope(m, p.namespace) && selects(spec.selector, p.labels)))
      for (const ep of spec.podMetricsEndpoints ?? [])
        for (const c of containersOf(pod.spec))
          for (const p of (c.ports ?? []).filter((x: any) => (ep.port ? x.name === ep.port : x.containerPort === ep.targetPort)))
            for (const ready of [true, false])
              targets.push(...target(m, ep, pod, p.containerPort, ready, { __meta_kubernetes_pod_container_port_name: p.name ?? '' }));
  }
  for (const m of objects.filter((o) => o.kind === 'ServiceMonitor')) {
    const spec = m.spec as any;
    const services = objects.filter(
      (s) => s.kind === 'Service' && inScope(m, namespaceOf(s)) && selects(spec.selector, s.metadata.labels ?? {}),
    );
    for (const svc of services)
      for (const ep of spec.endpoints ?? [])
        for (const { pod, port } of serviceEndpoints(objects, svc, ep.port ?? ep.targetPort))
          for (const ready of [true, false])
            targets.push(...target(m, ep, pod, port, ready, { __meta_kubernetes_service_name: svc.metadata.name }));
  }
  return targets;
}

/** Each scraped pod stays a target when not Ready, named by its pod (instance). */
export function operatorDiscoveryProblems(objects: KubernetesObject[]): string[] {
  const targets = operatorTargets(objects);
  const problems: string[] = [];
  for (const key of new Set(targets.filter((t) => t.ready).map((t) => `${t.via}\0${t.pod.id}`))) {
    const [via, id] = key.split('\0') as [string, string];
    const of = targets.filter((t) => t.via === via && t.pod.id === id);
    if (!of.some((t) => !t.ready)) problems.push(`${via}: pods of ${id} stop being targets when they are not Ready`);
    for (const t of of)
      if (t.instance !== podNameOf(t.pod)) problems.push(`${via}: a pod of ${id} is named instance="${t.instance}", not its pod name`);
  }
  return [...new Set(problems)];
}
