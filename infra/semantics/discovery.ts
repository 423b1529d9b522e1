/**
 * What a Prometheus of the stack scrapes, as it would in a cluster: static and DNS targets are resolved through
 * Services to pods; `kubernetes_sd_configs` are evaluated with Prometheus' own meta labels and relabelling for
 * every pod template, once with the pod Ready and once not Ready (a crash-looping pod, or one whose /readyz fails).
 */
import { parse } from 'yaml';
import { containersOf, type KubernetesObject, type Labels } from '../kube/model';
import {
  endpointsOfAddress,
  find,
  keysOf,
  namespaceOf,
  podsOfService,
  podTemplates,
  resolveContainerPort,
  serviceForHost,
  type PodTemplate,
} from './model';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes and Prometheus documents are walked structurally here. */

/** A Prometheus of the stack: the pod that mounts a ConfigMap with prometheus.yml, and that file parsed. */
export interface PrometheusInstance {
  pod: PodTemplate;
  config: any;
}

export function prometheusInstances(objects: KubernetesObject[]): PrometheusInstance[] {
  return podTemplates(objects).flatMap((pod) =>
    (pod.spec.volumes ?? []).flatMap((v: any) => {
      const cm = v.configMap && find(objects, 'ConfigMap', v.configMap.name, pod.namespace);
      if (!cm || !keysOf(cm).includes('prometheus.yml')) return [];
      return [{ pod, config: parse((cm.data as Record<string, string>)['prometheus.yml']!) }];
    }),
  );
}

/** One scrape (or alerting) target: which pod template, which container port, and the labels Prometheus gives it. */
export interface Target {
  job: string;
  pod: PodTemplate;
  port: number;
  metricsPath: string;
  instance: string;
  /** How the target was found; "kubernetes_sd" targets carry the readiness they were evaluated with. */
  via: string;
  ready?: boolean;
}

/** The name a pod of the template gets in the model: stable, distinct per template. */
export const podNameOf = (pod: PodTemplate) => `${pod.owner.metadata.name}-0`;

const sanitize = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, '_');

/** Prometheus' relabelling (replace, keep, drop, labelmap, labeldrop, labelkeep) of one target's labels. */
export function relabel(labels: Labels, configs: any[] = []): Labels | undefined {
  let l = { ...labels };
  for (const rc of configs) {
    const action = rc.action ?? 'replace';
    const regex = new RegExp(`^(?:${rc.regex ?? '(.*)'})$`);
    const value = (rc.source_labels ?? []).map((s: string) => l[s] ?? '').join(rc.separator ?? ';');
    const replacement = String(rc.replacement ?? '$1').replace(/\$\{(\w+)\}/g, '$$$1');
    if (action === 'keep' && !regex.test(value)) return undefined;
    if (action === 'drop' && regex.test(value)) return undefined;
    if (action === 'replace' && regex.test(value)) {
      const out = value.replace(regex, replacement);
      if (out === '') delete l[rc.target_label];
      else l[rc.target_label] = out;
    }
    if (action === 'labelmap') for (const [k, v] of Object.entries(l)) if (regex.test(k)) l[k.replace(regex, replacement)] = v;
    if (action === 'labeldrop') l = Object.fromEntries(Object.entries(l).filter(([k]) => !regex.test(k)));
    if (action === 'labelkeep') l = Object.fromEntries(Object.entries(l).filter(([k]) => regex.test(k)));
  }
  return l;
}

/** A kubernetes_sd label selector ("a=b,c!=d,e") applied to labels. */
function selectorHolds(selector: string, labels: Labels): boolean {
  return selector
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .every((term) => {
      const m = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
      if (!m) return term.startsWith('!') ? !(term.slice(1) in labels) : term in labels;
      return m[2] === '!=' ? labels[m[1]!] !== m[3] : labels[m[1]!] === m[3];
    });
}

export function podMeta(pod: PodTemplate, ready: boolean): Labels {
  const meta: Labels = {
    __meta_kubernetes_namespace: pod.namespace,
    __meta_kubernetes_pod_name: podNameOf(pod),
    __meta_kubernetes_pod_ready: String(ready),
    __meta_kubernetes_pod_phase: 'Running',
    __meta_kubernetes_pod_controller_kind: pod.owner.kind,
    __meta_kubernetes_pod_controller_name: pod.owner.metadata.name,
  };
  for (const [k, v] of Object.entries(pod.labels)) {
    meta[`__meta_kubernetes_pod_label_${sanitize(k)}`] = v;
    meta[`__meta_kubernetes_pod_labelpresent_${sanitize(k)}`] = 'true';
  }
  for (const [k, v] of Object.entries(pod.annotations)) {
    meta[`__meta_kubernetes_pod_annotation_${sanitize(k)}`] = v;
    meta[`__meta_kubernetes_pod_annotationpresent_${sanitize(k)}`] = 'true';
  }
  return meta;
}

/** The discovered targets (before relabelling) of one kubernetes_sd config, per pod template and port. */
function discovered(objects: KubernetesObject[], sd: any, ready: boolean): { pod: PodTemplate; port: number; meta: Labels }[] {
  const namespaces: string[] | undefined = sd.namespaces?.names;
  const selectors = (sd.selectors ?? []) as { role: string; label?: string }[];
  const inScope = (ns: string) => !namespaces || namespaces.includes(ns);
  const selectorFor = (role: string) => selectors.find((s) => s.role === role)?.label ?? '';
  const out: { pod: PodTemplate; port: number; meta: Labels }[] = [];
  if (sd.role === 'pod') {
    for (const pod of podTemplates(objects).filter((p) => inScope(p.namespace) && selectorHolds(selectorFor('pod'), p.labels)))
      for (const c of containersOf(pod.spec))
        for (const p of c.ports ?? [])
          out.push({
            pod,
            port: p.containerPort,
            meta: {
              ...podMeta(pod, ready),
              __address__: `${podNameOf(pod)}.pod:${p.containerPort}`,
              __meta_kubernetes_pod_container_name: c.name,
              __meta_kubernetes_pod_container_port_name: p.name ?? '',
              __meta_kubernetes_pod_container_port_number: String(p.containerPort),
              __meta_kubernetes_pod_container_init: 'false',
            },
          });
  }
  if (sd.role === 'endpoints' || sd.role === 'endpointslice') {
    const services = objects.filter(
      (s) => s.kind === 'Service' && inScope(namespaceOf(s)) && selectorHolds(selectorFor('service'), s.metadata.labels ?? {}),
    );
    for (const svc of services)
      for (const sp of (svc.spec as any)?.ports ?? [])
        for (const pod of podsOfService(objects, svc)) {
          const port = resolveContainerPort(pod, sp.targetPort ?? sp.port);
          // Not-ready addresses are listed too, unless they are dropped by relabelling.
          if (port === undefined || !selectorHolds(selectorFor('pod'), pod.labels)) continue;
          const meta: Labels = {
            ...podMeta(pod, ready),
            __address__: `${podNameOf(pod)}.pod:${port}`,
            __meta_kubernetes_service_name: svc.metadata.name,
            __meta_kubernetes_endpoint_port_name: sp.name ?? '',
            __meta_kubernetes_endpoint_ready: String(ready),
            __meta_kubernetes_endpointslice_port_name: sp.name ?? '',
            __meta_kubernetes_endpointslice_endpoint_conditions_ready: String(ready),
          };
          for (const [k, v] of Object.entries(svc.metadata.labels ?? {})) meta[`__meta_kubernetes_service_label_${sanitize(k)}`] = v;
          out.push({ pod, port, meta });
        }
  }
  return out;
}

/** Every target of one Prometheus: scrape jobs and Alertmanagers, kubernetes_sd ones evaluated Ready and not Ready. */
export function targetsOf(objects: KubernetesObject[], prom: PrometheusInstance): Target[] {
  const targets: Target[] = [];
  const ns = prom.pod.namespace;
  const staticTargets = (job: string, path: string, addresses: string[], via: string) => {
    for (const address of addresses)
      for (const { pod, port } of endpointsOfAddress(objects, address, ns))
        targets.push({ job, pod, port, metricsPath: path, instance: address, via });
  };
  for (const job of prom.config.scrape_configs ?? []) {
    const path = job.metrics_path ?? '/metrics';
    for (const sc of job.static_configs ?? []) staticTargets(job.job_name, path, sc.targets ?? [], 'static');
    for (const dns of job.dns_sd_configs ?? [])
      for (const name of dns.names ?? []) staticTargets(job.job_name, path, [`${name}:${dns.port}`], 'dns_sd');
    for (const sd of job.kubernetes_sd_configs ?? [])
      for (const ready of [true, false])
        for (const d of discovered(objects, sd, ready)) {
          const labels = relabel({ ...d.meta, job: job.job_name, __metrics_path__: path }, job.relabel_configs);
          if (!labels) continue;
          const port = Number(/:(\d+)$/.exec(labels.__address__ ?? '')?.[1] ?? d.port);
          targets.push({
            job: job.job_name,
            pod: d.pod,
            port,
            metricsPath: labels.__metrics_path__ ?? path,
            instance: labels.instance ?? labels.__address__ ?? '',
            via: `kubernetes_sd role ${sd.role}`,
            ready,
          });
        }
  }
  for (const am of prom.config.alerting?.alertmanagers ?? [])
    for (const sc of am.static_configs ?? []) staticTargets('alerting', '/api/v2/alerts', sc.targets ?? [], 'alerting');
  return targets;
}

/** The API resources a kubernetes_sd role lists and watches. */
const SD_RESOURCES: Record<string, { group: string; resource: string }[]> = {
  pod: [{ group: '', resource: 'pods' }],
  endpoints: ['endpoints', 'services', 'pods'].map((resource) => ({ group: '', resource })),
  endpointslice: [
    { group: 'discovery.k8s.io', resource: 'endpointslices' },
    ...['services', 'pods'].map((resource) => ({ group: '', resource })),
  ],
  service: [{ group: '', resource: 'services' }],
};
const READ_VERBS = new Set(['get', 'list', 'watch']);

/**
 * Discovery that a cluster would honour and that keeps unready pods:
 * - no DNS discovery (nor static target) through a headless Service that only lists Ready pods;
 * - each kubernetes_sd config is limited to the stack's namespace, and Prometheus' service account may list and
 *   watch exactly what its roles need there (a namespaced Role, read-only verbs, nothing more), with its token mounted;
 * - every pod template a kubernetes_sd job scrapes stays a target when not Ready, named by its pod (instance), and
 *   only on ports the job selected (one target per pod).
 */
export function discoveryProblems(objects: KubernetesObject[]): string[] {
  const problems: string[] = [];
  for (const prom of prometheusInstances(objects)) {
    const ns = prom.pod.namespace;
    for (const job of prom.config.scrape_configs ?? []) {
      const addresses = [
        ...(job.dns_sd_configs ?? []).flatMap((d: any) => (d.names ?? []).map((n: string) => ({ host: n, via: 'dns_sd_configs' }))),
        ...(job.static_configs ?? []).flatMap((s: any) =>
          (s.targets ?? []).map((t: string) => ({ host: t.replace(/:\d+$/, ''), via: 'static_configs' })),
        ),
      ];
      for (const { host, via } of addresses) {
        const svc = serviceForHost(objects, host, ns);
        const spec = svc?.spec as any;
        if (spec?.clusterIP === 'None' && !spec.publishNotReadyAddresses)
          problems.push(
            `job ${job.job_name}: ${via} name ${host} is a headless Service that lists only Ready pods, so an unready or crash-looping pod vanishes instead of showing up == 0`,
          );
      }
      const sds = job.kubernetes_sd_configs ?? [];
      if (sds.some((d: any) => d.role === 'node')) problems.push(...nodeRoleProblems(objects, prom.pod, job, ns));
      for (const sd of sds.filter((d: any) => d.role !== 'node')) {
        const names: string[] | undefined = sd.namespaces?.names;
        if (!names || names.length === 0 || names.some((n) => n !== ns))
          problems.push(`job ${job.job_name}: kubernetes_sd role ${sd.role} is not limited to the namespace ${ns}`);
        problems.push(...rbacProblems(objects, prom.pod, sd.role, ns, job.job_name));
      }
      if (sds.length === 0) continue;
      const targets = targetsOf(objects, { ...prom, config: { scrape_configs: [job] } });
      const scraped = new Set(targets.filter((t) => t.ready).map((t) => t.pod.id));
      for (const id of scraped) {
        const ready = targets.filter((t) => t.pod.id === id && t.ready);
        const unready = targets.filter((t) => t.pod.id === id && !t.ready);
        if (unready.length === 0) problems.push(`job ${job.job_name}: pods of ${id} stop being targets when they are not Ready`);
        if (ready.length > 1)
          problems.push(`job ${job.job_name}: pods of ${id} are scraped on ${ready.length} ports (${ready.map((t) => t.port).join(', ')})`);
        for (const t of [...ready, ...unready])
          if (t.instance !== podNameOf(t.pod))
            problems.push(`job ${job.job_name}: a pod of ${id} is named instance="${t.instance}", not its pod name ${podNameOf(t.pod)}`);
      }
    }
  }
  return problems;
}

function rbacProblems(objects: KubernetesObject[], pod: PodTemplate, role: string, ns: string, job: string): string[] {
  const problems: string[] = [];
  const sa = pod.spec.serviceAccountName ?? 'default';
  const account = find(objects, 'ServiceAccount', sa, pod.namespace);
  const tokenMounted = pod.spec.automountServiceAccountToken ?? (account as any)?.automountServiceAccountToken ?? true;
  if (!tokenMounted) problems.push(`job ${job}: ${pod.id} does not mount its service account token, so discovery cannot call the API`);
  const bindings = objects.filter(
    (b) =>
      b.kind === 'RoleBinding' &&
      namespaceOf(b) === ns &&
      ((b as any).subjects ?? []).some((s: any) => s.kind === 'ServiceAccount' && s.name === sa && (s.namespace ?? ns) === pod.namespace),
  );
  const rules = bindings.flatMap((b) => {
    const r = find(objects, 'Role', (b as any).roleRef?.name, ns);
    return (b as any).roleRef?.kind === 'Role' && r ? ((r as any).rules ?? []) : [];
  });
  const needed = SD_RESOURCES[role] ?? [];
  for (const { group, resource } of needed)
    for (const verb of ['list', 'watch'])
      if (!rules.some((r: any) => r.apiGroups?.includes(group) && r.resources?.includes(resource) && r.verbs?.includes(verb)))
        problems.push(`job ${job}: service account ${sa} may not ${verb} ${resource} in ${ns} (kubernetes_sd role ${role} needs it)`);
  for (const r of rules) {
    const extraVerbs = (r.verbs ?? []).filter((v: string) => !READ_VERBS.has(v));
    const extraResources = (r.resources ?? []).filter(
      (res: string) => !Object.values(SD_RESOURCES).some((l) => l.some((n) => n.resource === res)),
    );
    if (extraVerbs.length || extraResources.length)
      problems.push(
        `job ${job}: service account ${sa} is granted more than discovery needs (${[...extraVerbs, ...extraResources].join(', ')})`,
      );
  }
  for (const b of objects.filter((o) => o.kind === 'ClusterRoleBinding'))
    if (clusterRulesOf(objects, b).some(beyondClusterWideGrants))
      problems.push(
        `job ${job}: the stack declares ClusterRoleBinding ${b.metadata.name} beyond the kubelets' metrics and listing CRDs; discovery needs only its namespace`,
      );
  return problems;
}

/** The rules of the ClusterRole a ClusterRoleBinding grants. */
function clusterRulesOf(objects: KubernetesObject[], binding: KubernetesObject): any[] {
  const ref = (binding as any).roleRef;
  const role = ref?.kind === 'ClusterRole' ? objects.find((o) => o.kind === 'ClusterRole' && o.metadata.name === ref.name) : undefined;
  return (role as any)?.rules ?? [];
}

/**
 * The only cluster-wide grants a stack may hold: finding the nodes (list/watch) and reading their kubelets'
 * metrics (get nodes/metrics), and kube-state-metrics listing the CRDs (schemas, no data) to find the CloudNativePG
 * Clusters it exports. `nodes/proxy` would also reach the kubelets' exec and log endpoints.
 */
const NODE_METRICS_GRANTS: Record<string, string[]> = { nodes: ['list', 'watch'], 'nodes/metrics': ['get'] };
const CLUSTER_WIDE_GRANTS: Record<string, Record<string, string[]>> = {
  '': NODE_METRICS_GRANTS,
  'apiextensions.k8s.io': { customresourcedefinitions: ['list', 'watch'] },
};
const beyondClusterWideGrants = (r: any) =>
  (r.nonResourceURLs ?? []).length > 0 ||
  (r.apiGroups ?? []).some((g: string) => {
    const allowed = CLUSTER_WIDE_GRANTS[g];
    return (
      !allowed ||
      (r.resources ?? []).some((res: string) => !allowed[res] || (r.verbs ?? []).some((v: string) => !allowed[res]!.includes(v)))
    );
  });

/**
 * A kubelet scrape (kubernetes_sd role node): nodes are cluster-scoped, so the service account needs a
 * ClusterRoleBinding granting exactly NODE_METRICS_GRANTS, its token mounted; and since a node's cAdvisor reports
 * every tenant's containers, the job must keep only the stack's namespace (a `keep` on `namespace` after scraping).
 */
function nodeRoleProblems(objects: KubernetesObject[], pod: PodTemplate, job: any, ns: string): string[] {
  const problems: string[] = [];
  const name = job.job_name;
  const sa = pod.spec.serviceAccountName ?? 'default';
  const account = find(objects, 'ServiceAccount', sa, pod.namespace);
  const tokenMounted = pod.spec.automountServiceAccountToken ?? (account as any)?.automountServiceAccountToken ?? true;
  if (!tokenMounted) problems.push(`job ${name}: ${pod.id} does not mount its service account token, so it cannot read the kubelets`);
  const rules = objects
    .filter(
      (b) =>
        b.kind === 'ClusterRoleBinding' &&
        ((b as any).subjects ?? []).some((s: any) => s.kind === 'ServiceAccount' && s.name === sa && s.namespace === pod.namespace),
    )
    .flatMap((b) => clusterRulesOf(objects, b));
  for (const [resource, verbs] of Object.entries(NODE_METRICS_GRANTS))
    for (const verb of verbs)
      if (!rules.some((r: any) => r.apiGroups?.includes('') && r.resources?.includes(resource) && r.verbs?.includes(verb)))
        problems.push(
          `job ${name}: service account ${sa} may not ${verb} ${resource} (kubernetes_sd role node and the kubelet scrape need it)`,
        );
  const keepsNamespace = (job.metric_relabel_configs ?? []).some(
    (r: any) =>
      r.action === 'keep' &&
      r.source_labels?.length === 1 &&
      r.source_labels[0] === 'namespace' &&
      new RegExp(`^(?:${r.regex})$`).test(ns) &&
      !new RegExp(`^(?:${r.regex})$`).test(`${ns}-other`) &&
      !new RegExp(`^(?:${r.regex})$`).test('kube-system'),
  );
  if (!keepsNamespace) problems.push(`job ${name}: the kubelet scrape keeps series of other namespaces than ${ns}`);
  return problems;
}

/** The targets of every Prometheus of the stack, as "Prometheus pod → target pod:port" flows. */
export function scrapeFlows(objects: KubernetesObject[]): { from: PodTemplate; to: PodTemplate; port: number; why: string }[] {
  return prometheusInstances(objects).flatMap((prom) =>
    targetsOf(objects, prom).map((t) => ({ from: prom.pod, to: t.pod, port: t.port, why: `${t.job} (${t.via})` })),
  );
}
