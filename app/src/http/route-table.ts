/**
 * Every route the service answers, declared once. The Express routers mount them from here (`mount`), the
 * OpenAPI document describes the API ones (`openapi.ts`), a test holds docs/api.md's endpoint tables to it, and
 * the Ingress, its policy and the SLOs take the API prefix from here. Plain data without imports, so that
 * infra/ and monitoring/ can import it (the image builds app/ alone: app imports nothing of theirs).
 *
 * Two kinds of route: `api` (public, under API_PREFIX: routed by the Ingress, counted by the SLOs) and
 * `operational` (probes, scrapes and the version: outside the prefix on purpose, never public, never traffic).
 */

/** The versioned prefix of every public API route; the SLOs count the requests under it. */
export const API_PREFIX = '/api/v1';
/** What the public Ingress routes to the service: the API of every version, nothing operational. */
export const INGRESS_PREFIX = '/api/';

export type RouteMethod = 'get' | 'post' | 'delete';

export interface Route {
  method: RouteMethod;
  /** Express path syntax (`:param`). */
  path: string;
  kind: 'api' | 'operational';
  /** Who may call it: the OpenAPI summary says more. */
  who: 'sensor' | 'admin' | 'anyone';
  summary: string;
}

export const ROUTES = {
  ingestEvents: {
    method: 'post',
    path: `${API_PREFIX}/events`,
    kind: 'api',
    who: 'sensor',
    summary: 'Ingest one event or a batch (atomic: all stored, or none)',
  },
  readEvents: {
    method: 'get',
    path: `${API_PREFIX}/events`,
    kind: 'api',
    who: 'sensor',
    summary: "Read back this sensor's events, newest first, keyset-paginated",
  },
  createSensor: {
    method: 'post',
    path: `${API_PREFIX}/sensors`,
    kind: 'api',
    who: 'admin',
    summary: 'Create a sensor (admin); the token is shown once',
  },
  listSensors: { method: 'get', path: `${API_PREFIX}/sensors`, kind: 'api', who: 'admin', summary: 'List sensors (admin)' },
  revokeSensor: {
    method: 'delete',
    path: `${API_PREFIX}/sensors/:sensorId`,
    kind: 'api',
    who: 'admin',
    summary: "Revoke a sensor's token (admin)",
  },
  currentSensor: { method: 'get', path: `${API_PREFIX}/sensor`, kind: 'api', who: 'sensor', summary: 'The calling sensor' },
  openApi: { method: 'get', path: `${API_PREFIX}/openapi.json`, kind: 'api', who: 'anyone', summary: 'This OpenAPI document' },
  healthz: { method: 'get', path: '/healthz', kind: 'operational', who: 'anyone', summary: 'The process is alive' },
  readyz: { method: 'get', path: '/readyz', kind: 'operational', who: 'anyone', summary: 'The instance can take traffic' },
  version: { method: 'get', path: '/version', kind: 'operational', who: 'anyone', summary: 'Version and commit' },
  metrics: { method: 'get', path: '/metrics', kind: 'operational', who: 'anyone', summary: 'Prometheus exposition' },
} as const satisfies Record<string, Route>;

export type RouteId = keyof typeof ROUTES;

/** A route's path as OpenAPI and the docs write it (`{param}`). */
export const documentedPath = (route: Pick<Route, 'path'>): string => route.path.replace(/:(\w+)/g, '{$1}');
