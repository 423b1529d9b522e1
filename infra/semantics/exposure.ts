/**
 * What the public Ingresses expose, per stack: the API and nothing internal (health, readiness, metrics of a
 * scraped workload).
 */
import { containersOf, hostsWithoutTls, ingressPaths, type KubernetesObject } from '../kube/model';
import { ROUTES } from '../../app/src/http/route-table';
import { scrapeFlows } from './discovery';
import { find, nameOf, namespaceOf, podsOfService, selectsByMap, type PodTemplate } from './model';
import { ROLES } from './network';

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
  const probes = containersOf(pod.spec).flatMap((c) =>
    ['startupProbe', 'livenessProbe', 'readinessProbe'].map((p) => c[p]?.httpGet?.path).filter(Boolean),
  );
  const scraped = scrapeFlows(objects)
    .filter((f) => f.to.id === pod.id)
    .map(() => '/metrics');
  return [...new Set([...probes, ...scraped])];
}

export const CERT_MANAGER_ANNOTATIONS = ['cert-manager.io/cluster-issuer', 'cert-manager.io/issuer'];

/**
 * What the ingress controller makes public (whether each path may be public, and TLS, are policy rules):
 * - The app is reachable through an Ingress at the API path.
 * - No Ingress path reaches a workload that Prometheus scrapes at one of its internal paths (probes, /metrics).
 * - An Ingress asking cert-manager for a certificate names the Secret it is to fill (spec.tls): cert-manager
 *   issues nothing otherwise.
 */
export function exposureProblems(objects: KubernetesObject[]): string[] {
  const problems: string[] = [];
  const scraped = new Set(scrapeFlows(objects).map((f) => f.to.id));
  let apiRouted = false;
  for (const ing of objects.filter((o) => o.kind === 'Ingress')) {
    for (const p of ingressPaths(ing)) {
      const svc = find(objects, 'Service', p.backend?.service?.name, namespaceOf(ing));
      for (const pod of svc ? podsOfService(objects, svc) : []) {
        if (selectsByMap(ROLES.app, pod.labels) && pathCovers(p.path, p.pathType, API_PATH)) apiRouted = true;
        if (!scraped.has(pod.id)) continue;
        for (const internal of internalPaths(objects, pod))
          if (pathCovers(p.path, p.pathType, internal))
            problems.push(`${nameOf(ing)}: path ${p.path} makes ${internal} of ${pod.id} public`);
      }
    }
    if (CERT_MANAGER_ANNOTATIONS.some((a) => ing.metadata.annotations?.[a]) && hostsWithoutTls(ing).length > 0)
      problems.push(`${nameOf(ing)}: asks cert-manager for a certificate but spec.tls does not name a Secret for every host`);
  }
  if (!apiRouted) problems.push(`no Ingress routes ${API_PATH} to the app`);
  return problems;
}
