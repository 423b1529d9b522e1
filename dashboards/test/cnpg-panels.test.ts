/**
 * The Dependencies dashboard's CloudNativePG panels on a real Prometheus: no operator runs here, so Prometheus is
 * backfilled (promtool tsdb create-blocks-from openmetrics) with series of the names and labels the pinned operator
 * and Barman Cloud plugin export (monitoring/src/rules.ts CNPG_METRICS, as job "cnpg" relabels them), and every
 * panel query that reads job "cnpg" must parse and return data over them.
 */
import { CNPG_JOB, CNPG_METRICS } from '../../monitoring/src';
import { startBackfilledPrometheus } from '../../tools/stack/backfilled-prometheus';
import type { Running } from '../../tools/stack/process';
import { allDashboards } from '../src/index';

const STEP = 15;
const MINUTES = 30;

/** Two instances of cluster "postgres": a primary archiving WAL (a failure now and then) and a lagging replica. */
function history(now: number): string {
  const lines: string[] = [];
  const end = Math.floor(now) - 2;
  let failures = 0;
  for (let t = end - MINUTES * 60; t <= end; t += STEP) {
    failures += t % 300 === 0 ? 1 : 0;
    for (const [pod, lag] of [
      ['postgres-1', 0],
      ['postgres-2', 4 + ((t / STEP) % 5)],
    ] as const) {
      const l = `job="${CNPG_JOB}",namespace="event-stack-staging",cluster="postgres",pod="${pod}"`;
      lines.push(
        `${CNPG_METRICS.lastBackup}{${l}} ${end - 6 * 3600} ${t}`,
        `${CNPG_METRICS.replicationLag}{${l}} ${lag} ${t}`,
        `${CNPG_METRICS.walArchiveStatus}{${l},value="ready"} ${pod === 'postgres-1' ? (t / STEP) % 3 : 0} ${t}`,
        `${CNPG_METRICS.archiveFailures}{${l}} ${pod === 'postgres-1' ? failures : 0} ${t}`,
      );
    }
  }
  return `${lines.join('\n')}\n# EOF\n`;
}

const panels = allDashboards().flatMap((d) =>
  (d.panels ?? []).flatMap((p) => {
    const panel = p as { title?: string; targets?: Array<{ refId?: string; expr?: string }> };
    return (panel.targets ?? [])
      .filter((t) => (t.expr ?? '').includes(`job="${CNPG_JOB}"`))
      .map((t) => ({ name: `${d.uid} / ${panel.title} / ${t.refId}`, expr: t.expr! }));
  }),
);

let prometheus: Running & { url: string };
beforeAll(async () => {
  prometheus = await startBackfilledPrometheus('cnpg-panels', history(Date.now() / 1000));
}, 60_000);
afterAll(async () => {
  await prometheus?.stop();
});

test('when the dashboards are read, then the Dependencies dashboard has the backup, replication lag and WAL archive panels of CloudNativePG', () => {
  const titles = new Set(panels.map((p) => p.name.split(' / ')[1]));
  expect([...titles].sort()).toEqual([
    'Last base backup (CloudNativePG)',
    'Replication lag (CloudNativePG)',
    'WAL archive (CloudNativePG)',
  ]);
});

test('when every CloudNativePG panel query runs over the backfilled series, then each parses and returns data', async () => {
  const end = Math.floor(Date.now() / 1000) - 5;
  const start = end - 20 * 60;
  const problems: string[] = [];
  for (const p of panels) {
    const query = p.expr.replace(/\$__rate_interval\b/g, '1m');
    const url = `${prometheus.url}/api/v1/query_range?${new URLSearchParams({ query, start: String(start), end: String(end), step: '15' })}`;
    const r = (await (await fetch(url)).json()) as {
      status: string;
      error?: string;
      data?: { result: Array<{ values: [number, string][] }> };
    };
    if (r.status !== 'success') problems.push(`${p.name}: ${r.error}`);
    else if (!r.data!.result.some((s) => s.values.some(([, v]) => Number.isFinite(Number(v)))))
      problems.push(`${p.name}: no data — ${query}`);
  }
  expect(panels.length).toBeGreaterThanOrEqual(4);
  expect(problems).toEqual([]);
});
