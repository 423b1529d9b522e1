/**
 * What the public Ingresses expose, per stack: the API and nothing internal (health, readiness, metrics of a
 * scraped workload), over TLS where the stage requires it.
 */
import { INGRESS_PREFIX, ROUTES } from '../../app/src/http/route-table';
import type { KubernetesObject } from '../offline';
import { scrapeFlows } from './discovery';
import { containersOf, find, nameOf, namespaceOf, podsOfService, selectsByMap, type PodTemplate } from './model';
import { ROLES } from './network';
import { ingressPaths } from './wiring';

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes and Prometheus documents are walked structurally here. */

/** The request path every client of the API uses; the public Ingress must route it to the app. */
export const API_PATH = ROUTES.ingestEvents.path;

/** Whether an Ingress path (Prefix/ImplementationSpecific as a prefix by path segment, or Exact) matches a request path. */
export function pathCovers(path: string, pathType: string, request: string): boolean {
  if (pathType === 'Exact') return request === path;
  if (path === '/' || request === path) return true;
  return request.startsWith(path.endsWith('/') ? path : `${path}/`);
}

/** Paths that stay inside the cluster: the probes' paths and the metrics paths Prometheus scrapes. */
function internalPaths(objects: KubernetesObject[], pod: PodTemplate): string[] {
  const probes = containersOf(pod).flatMap((c) =>
    ['startupProbe', 'livenessProbe', 'readinessProbe'].map((p) => c[p]?.httpGet?.path).filter(Boolean),
  );
  const scraped = scrapeFlows(objects)
    .filter((f) => f.to.id === pod.id)
    .map(() => '/metrics');
  return [...new Set([...probes, ...scraped])];
}

export const CERT_MANAGER_ANNOTATIONS = ['cert-manager.io/cluster-issuer', 'cert-manager.io/issuer'];

/**
 * - The app is reachable through an Ingress at the API path, and every Ingress path to the app is under /api/.
 * - No Ingress path reaches a workload that Prometheus scrapes at one of its internal paths (probes, /metrics).
 * - With `tlsRequired`, every host of every Ingress is served over TLS from a named Secret.
 * - An Ingress asking cert-manager for a certificate names the Secret it is to fill (spec.tls).
 */
export function exposureProblems(objects: KubernetesObject[], options: { tlsRequired: boolean }): string[] {
  const problems: string[] = [];
  const scraped = new Set(scrapeFlows(objects).map((f) => f.to.id));
  let apiRouted = false;
  for (const ing of objects.filter((o) => o.kind === 'Ingress')) {
    for (const p of ingressPaths(ing)) {
      const svc = find(objects, 'Service', p.backend?.service?.name, namespaceOf(ing));
      for (const pod of svc ? podsOfService(objects, svc) : []) {
        const isApp = selectsByMap(ROLES.app, pod.labels);
        if (isApp && pathCovers(p.path, p.pathType, API_PATH)) apiRouted = true;
        if (isApp && !p.path.startsWith(INGRESS_PREFIX))
          problems.push(`${nameOf(ing)}: path ${p.path} routes more than the API (${INGRESS_PREFIX}) to ${pod.id}`);
        if (!scraped.has(pod.id)) continue;
        for (const internal of internalPaths(objects, pod))
          if (pathCovers(p.path, p.pathType, internal))
            problems.push(`${nameOf(ing)}: path ${p.path} makes ${internal} of ${pod.id} public`);
      }
    }
    const spec = ing.spec as any;
    const tlsHosts = new Set<string>((spec?.tls ?? []).filter((t: any) => t.secretName).flatMap((t: any) => t.hosts ?? []));
    const hosts = ((spec?.rules ?? []) as any[]).map((r) => r.host ?? '*');
    const annotations = ing.metadata.annotations ?? {};
    if (CERT_MANAGER_ANNOTATIONS.some((a) => annotations[a]) && hosts.some((h) => !tlsHosts.has(h)))
      problems.push(`${nameOf(ing)}: asks cert-manager for a certificate but spec.tls does not name a Secret for every host`);
    if (options.tlsRequired)
      for (const h of hosts.filter((x) => !tlsHosts.has(x))) problems.push(`${nameOf(ing)}: host ${h} is served without TLS`);
  }
  if (!apiRouted) problems.push(`no Ingress routes ${API_PATH} to the app`);
  return problems;
}
