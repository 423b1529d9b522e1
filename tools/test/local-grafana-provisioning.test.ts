/**
 * `make local` starts Grafana (when installed) with the provisioning files writeMonitoringFiles renders; the
 * cluster's Grafana gets its own from renderGrafanaProvisioning. Both must be the same provisioning: the same
 * datasource (uid, type, access, default), the same dashboard provider and the same dashboard files; only the
 * addresses (Prometheus' URL, the dashboards' directory) and the scrape interval differ.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { DASHBOARDS_JSON_DIR, GRAFANA_DATASOURCE_UID, writeMonitoringFiles } from '../../monitoring/src';
import { DASHBOARDS_MOUNT } from '../../infra/components/grafana';
import { dashboardFiles, renderGrafanaProvisioning } from '../../infra/monitoring';

let dir: string;
let local: { datasources: any; dashboards: any };
const cluster = (() => {
  const p = renderGrafanaProvisioning('http://prometheus.event-stack-dev.svc.cluster.local:9090', DASHBOARDS_MOUNT);
  return { datasources: parse(p.datasources), dashboards: parse(p.dashboards) };
})();

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-grafana-'));
  // What `make local` (tools/local.ts → startMonitoringStack) writes, with its own addresses.
  const files = writeMonitoringFiles(dir, {
    appTargets: ['127.0.0.1:8080'],
    pushgatewayTarget: '127.0.0.1:9391',
    alertmanagerTargets: ['127.0.0.1:9393'],
    prometheusTarget: '127.0.0.1:9390',
    scrapeInterval: '5s',
    evaluationInterval: '5s',
    pagerUrl: 'http://127.0.0.1:9399/pager',
    ticketUrl: 'http://127.0.0.1:9399/ticket',
    heartbeatUrl: 'http://127.0.0.1:9399/heartbeat',
    prometheusUrl: 'http://127.0.0.1:9390',
  });
  const read = (kind: string) => parse(fs.readFileSync(path.join(files.grafanaProvisioning, kind, 'event-stack.yaml'), 'utf8'));
  local = { datasources: read('datasources'), dashboards: read('dashboards') };
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('when make local renders Grafana’s datasource, then it is the cluster’s but for Prometheus’ address and the scrape interval', () => {
  const withoutAddresses = (d: any) => ({ ...d, url: undefined, jsonData: { ...d.jsonData, timeInterval: undefined } });
  expect(local.datasources.datasources.map(withoutAddresses)).toEqual(cluster.datasources.datasources.map(withoutAddresses));
  expect(local.datasources.datasources[0]).toMatchObject({
    uid: GRAFANA_DATASOURCE_UID,
    url: 'http://127.0.0.1:9390',
    jsonData: { timeInterval: '5s' },
  });
});

test('when make local renders the dashboard provider, then it is the cluster’s, reading the repository’s dashboards/json instead of the mount', () => {
  const withoutPath = (p: any) => ({ ...p, options: { ...p.options, path: undefined } });
  expect(local.dashboards.providers.map(withoutPath)).toEqual(cluster.dashboards.providers.map(withoutPath));
  expect(local.dashboards.providers[0].options.path).toBe(DASHBOARDS_JSON_DIR);
  expect(cluster.dashboards.providers[0].options.path).toBe(DASHBOARDS_MOUNT);
});

test('when make local’s Grafana reads its dashboards directory, then it finds exactly the files the cluster’s dashboards ConfigMap holds', () => {
  const localFiles = Object.fromEntries(
    fs
      .readdirSync(local.dashboards.providers[0].options.path)
      .filter((f) => f.endsWith('.json'))
      .map((f) => [f, fs.readFileSync(path.join(DASHBOARDS_JSON_DIR, f), 'utf8')]),
  );
  expect(localFiles).toEqual(dashboardFiles());
  expect(Object.keys(localFiles).length).toBeGreaterThanOrEqual(6);
});
