/**
 * The route table is the one declaration of the service's routes: every public route lies under the API prefix
 * (so the Ingress routes it and the SLOs count it), only the operational endpoints lie outside, and docs/api.md
 * lists exactly these routes. That Express serves exactly the table is checked on a running service (events.test.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { API_ROUTE_MATCHER } from '../../monitoring/src/contract';
import { API_PREFIX, documentedPath, INGRESS_PREFIX, ROUTES, type Route } from '../src/http/route-table';

const routes: Route[] = Object.values(ROUTES);
const api = routes.filter((r) => r.kind === 'api');
/** Outside the prefix on purpose: probes, scrapes and the version never leave the cluster and are not traffic. */
const OPERATIONAL_PATHS = ['/healthz', '/metrics', '/readyz', '/version'];

describe('the route table', () => {
  it('when a route is public API, then it lies under the API prefix; every other route is one of the operational endpoints', () => {
    expect(api.filter((r) => !r.path.startsWith(`${API_PREFIX}/`)).map((r) => r.path)).toEqual([]);
    const outside = routes.filter((r) => !r.path.startsWith(`${API_PREFIX}/`));
    expect(outside.every((r) => r.kind === 'operational')).toBe(true);
    expect(outside.map((r) => r.path).sort()).toEqual(OPERATIONAL_PATHS);
  });

  it('when a route is public API, then the Ingress routes it and the SLOs count it; an operational route is neither', () => {
    const slo = new RegExp(`^${/route=~"(.+)"/.exec(API_ROUTE_MATCHER)![1]}$`);
    for (const r of api) expect([r.path, r.path.startsWith(INGRESS_PREFIX), slo.test(r.path)]).toEqual([r.path, true, true]);
    for (const r of routes.filter((x) => x.kind === 'operational'))
      expect([r.path, r.path.startsWith(INGRESS_PREFIX), slo.test(r.path)]).toEqual([r.path, false, false]);
  });

  it('when a method and path are declared twice, then the table says so', () => {
    const keys = routes.map((r) => `${r.method} ${r.path}`);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
  });
});

describe('docs/api.md', () => {
  const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'api.md'), 'utf8');
  /** Each row of its endpoint tables that starts with `METHOD /path`, as [method path, first word of the next column]. */
  const rows = [...doc.matchAll(/^\| `(GET|POST|DELETE) (\/[^`?\s]*)[^|]*\| ([^|]*)/gm)].map((m) => [
    `${m[1]} ${m[2]}`,
    /\w*/.exec(m[3]!)![0],
  ]);

  it('when the route table changes, then the endpoint tables list every route (method and path) and no other', () => {
    const declared = routes.map((r) => `${r.method.toUpperCase()} ${documentedPath(r)}`);
    expect(rows.map(([route]) => route).sort()).toEqual(declared.sort());
  });

  it('when an API route is documented, then the table names who may call it as the route table does', () => {
    const who = Object.fromEntries(rows);
    expect(api.map((r) => [r.path, who[`${r.method.toUpperCase()} ${documentedPath(r)}`]])).toEqual(api.map((r) => [r.path, r.who]));
  });
});
