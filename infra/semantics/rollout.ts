/**
 * Canary releases (Argo Rollouts) as the controller would run them: a Rollout's stable and canary Services select
 * its pods and carry no Ingress of their own (without traffic routing the controller narrows each to one side, so
 * an Ingress on one would starve the other); every analysis step names a declared AnalysisTemplate and supplies its
 * arguments; every analysis query asks a Prometheus that exists and scrapes the Rollout's pods under the job the
 * query selects, named by pod (the canary's pods are told apart by their names); the controller's queries to the
 * stack's own Prometheus are flows the network policies must admit.
 */
import { ROLLOUT_API_VERSION, ROLLOUTS_CONTROLLER } from '../components/canary';
import { ingressPaths, type KubernetesObject } from '../kube/model';
import { podNameOf, prometheusInstances, targetsOf, type Target } from './discovery';
import { endpointsOfAddress, find, nameOf, namespaceOf, podTemplates, selects, selectsByMap, type PodTemplate } from './model';
import { operatorTargets } from './operator';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are walked structurally here. */

/** The controller as a peer outside the stack, for the network checks. */
export const ROLLOUTS_CONTROLLER_PEER = { id: 'the Argo Rollouts controller', ...ROLLOUTS_CONTROLLER };

interface AnalysisQuery {
  template: KubernetesObject;
  metric: string;
  address: string;
  query: string;
}

function analysisQueries(objects: KubernetesObject[]): AnalysisQuery[] {
  return objects
    .filter((o) => o.kind === 'AnalysisTemplate')
    .flatMap((template) =>
      ((template.spec as any)?.metrics ?? []).flatMap((m: any) =>
        m.provider?.prometheus
          ? [{ template, metric: m.name, address: m.provider.prometheus.address ?? '', query: m.provider.prometheus.query ?? '' }]
          : [],
      ),
    );
}

/** host:port of an http(s) URL, the port defaulted by scheme. */
function hostPort(url: string): { host: string; port: number } | undefined {
  try {
    const u = new URL(url);
    return { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) };
  } catch {
    return undefined;
  }
}

/** The flows the controller makes to the stack's own pods when it runs the analyses. */
export function analysisFlows(objects: KubernetesObject[]): { to: PodTemplate; port: number; why: string }[] {
  return analysisQueries(objects).flatMap((q) => {
    const hp = hostPort(q.address);
    return hp
      ? endpointsOfAddress(objects, `${hp.host}:${hp.port}`, namespaceOf(q.template)).map((e) => ({
          to: e.pod,
          port: e.port,
          why: `analysis ${nameOf(q.template)}`,
        }))
      : [];
  });
}

const argsIn = (text: string) => [...text.matchAll(/\{\{\s*args\.([\w-]+)\s*\}\}/g)].map((m) => m[1]!);

export function rolloutProblems(objects: KubernetesObject[]): string[] {
  const problems: string[] = [];
  const pods = podTemplates(objects);
  const ingressBackends = new Set(
    objects.filter((o) => o.kind === 'Ingress').flatMap((o) => ingressPaths(o).map((p) => `${namespaceOf(o)}/${p.backend?.service?.name}`)),
  );

  for (const rollout of objects.filter((o) => o.kind === 'Rollout')) {
    const spec = rollout.spec as any;
    const ns = namespaceOf(rollout);
    const own = pods.find((p) => p.owner === rollout);
    if (!own || !selects(spec?.selector, own.labels)) problems.push(`${nameOf(rollout)}: its selector does not select its own pods`);
    const canary = spec?.strategy?.canary;
    if (!canary) continue;
    const services = [canary.stableService, canary.canaryService].filter(Boolean);
    if (services.length === 2 && services[0] === services[1]) problems.push(`${nameOf(rollout)}: stable and canary are one Service`);
    for (const name of services) {
      const svc = find(objects, 'Service', name, ns);
      if (!svc) problems.push(`${nameOf(rollout)}: Service ${name} is not declared by the stack`);
      else if (own && !selectsByMap((svc.spec as any)?.selector, own.labels))
        problems.push(`${nameOf(rollout)}: Service ${name} does not select its pods`);
      if (!canary.trafficRouting && ingressBackends.has(`${ns}/${name}`))
        problems.push(
          `${nameOf(rollout)}: an Ingress routes to Service ${name}, which the controller narrows to one side's pods (without traffic routing)`,
        );
    }
    const steps = [
      ...(canary.steps ?? []).flatMap((s: any) => (s.analysis ? [s.analysis] : [])),
      ...(canary.analysis ? [canary.analysis] : []),
    ];
    for (const step of steps)
      for (const ref of step.templates ?? []) {
        const template = ref.clusterScope ? undefined : find(objects, 'AnalysisTemplate', ref.templateName, ns);
        if (!template) {
          problems.push(`${nameOf(rollout)}: AnalysisTemplate ${ref.templateName} is not declared by the stack`);
          continue;
        }
        const declared = ((template.spec as any)?.args ?? []) as { name: string; value?: string }[];
        const given = new Set(((step.args ?? []) as { name: string }[]).map((a) => a.name));
        for (const a of declared.filter((d) => d.value === undefined && !given.has(d.name)))
          problems.push(`${nameOf(rollout)}: its analysis does not give argument ${a.name} of ${nameOf(template)}`);
        for (const name of [...given].filter((g) => !declared.some((d) => d.name === g)))
          problems.push(`${nameOf(rollout)}: its analysis gives argument ${name}, which ${nameOf(template)} does not declare`);
      }
  }

  for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const ref = (hpa.spec as any)?.scaleTargetRef ?? {};
    if (ref.kind === 'Rollout' && ref.apiVersion !== ROLLOUT_API_VERSION)
      problems.push(`${nameOf(hpa)}: scales Rollout ${ref.name} through ${ref.apiVersion}, not ${ROLLOUT_API_VERSION}`);
  }

  const targets: Target[] = [...prometheusInstances(objects).flatMap((p) => targetsOf(objects, p)), ...operatorTargets(objects)];
  for (const q of analysisQueries(objects)) {
    const where = `${nameOf(q.template)} metric ${q.metric}`;
    const declared = new Set((((q.template.spec as any)?.args ?? []) as { name: string }[]).map((a) => a.name));
    for (const arg of argsIn(q.query).filter((a) => !declared.has(a))) problems.push(`${where}: its query uses undeclared argument ${arg}`);
    const hp = hostPort(q.address);
    const [service, namespace = namespaceOf(q.template)] = hp?.host.split('.') ?? [];
    if (!hp) problems.push(`${where}: address ${q.address} is not a URL`);
    else if (namespace === namespaceOf(q.template) && !endpointsOfAddress(objects, `${hp.host}:${hp.port}`, namespace).length)
      problems.push(`${where}: address ${q.address} reaches no pod of the stack (Service ${service})`);
    // The pods the analysis judges must be scraped under the job its query selects, each named by its pod.
    const job = /job="([^"]+)"/.exec(q.query)?.[1];
    for (const rollout of objects.filter((o) => o.kind === 'Rollout' && namespaceOf(o) === namespaceOf(q.template))) {
      const scraped = targets.filter((t) => t.pod.owner === rollout && t.ready && t.job === job);
      if (!scraped.length) problems.push(`${where}: no Prometheus of the stack scrapes the pods of ${nameOf(rollout)} as job ${job}`);
      for (const t of scraped.filter((x) => x.instance !== podNameOf(x.pod)))
        problems.push(`${where}: pods of ${nameOf(rollout)} are scraped as instance="${t.instance}", not by pod name`);
    }
  }
  return [...new Set(problems)];
}
