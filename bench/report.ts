/** The benchmark's results: one JSON document, rendered as Markdown with the ratios against the targets. */
import fs from 'node:fs';
import path from 'node:path';
import type { RunResult } from './load';
import type { StorageResult } from './storage';
import type { Shape } from './workload';

export interface CaseRun extends RunResult {
  /** `variant NAME`: the service with the settings of `--variant NAME:…`. */
  case: 'bare' | 'naive' | 'before' | 'service' | `variant ${string}`;
  shape: Shape;
  /** max: closed loop, as fast as it goes; fixed: open loop at half of the maximum. */
  mode: 'max' | 'fixed';
  connections?: number;
  /** 1-minute load average when the run ended. */
  load1: number;
  acknowledged?: number;
  missing?: number;
  partialAcks?: number;
  flush?: { flushes: number; meanRows: number; meanMs: number };
  /**
   * Fixed-rate runs: checkpoints that started in the window, and the share of the window in which some task waited
   * for a CPU, or every task waited for I/O (the kernel's pressure stall information; absent without it).
   */
  window?: { checkpoints: number; cpuSomePct?: number; ioFullPct?: number };
}

export interface Target {
  name: string;
  goal: string;
  measured: string;
  met: boolean;
  /** A p99 miss in a window whose stall share was at or above STALL_SHARE_LIMIT_PCT: the machine's, not the service's. */
  machineStalled?: boolean;
}

/**
 * The rule for p99 at half load: a window counts only when its stall share (CPU some + I/O full pressure) stayed
 * below this. The benchmark's own processes at half load on 2 cores make 20–30 % (docs/performance.md).
 */
export const STALL_SHARE_LIMIT_PCT = 50;

/** The share of a window in which the machine held work back: some task waiting for a CPU, plus every task waiting for I/O. */
export function stallSharePct(window: CaseRun['window']): number | undefined {
  if (window?.cpuSomePct === undefined || window.ioFullPct === undefined) return undefined;
  return Math.round((window.cpuSomePct + window.ioFullPct) * 10) / 10;
}

export interface BenchReport {
  kind: 'full' | 'smoke';
  date: string;
  /** The checkout measured as (c), and the revision measured as (c0) when `--before` was given. */
  commit?: string;
  beforeCommit?: string;
  /** Variants run from a git revision (`--variant NAME@REV`): name → commit. */
  variantCommits?: Record<string, string>;
  timing: { warmupS: number; rounds: number; roundS: number; fixedS: number; fixedWarmupS?: number };
  machine: {
    cores: number;
    cpu: string;
    memoryGb: number;
    node: string;
    postgres: string;
    postgresSettings: string;
    load1AtStart: number;
    load1AtEnd: number;
  };
  runs: CaseRun[];
  /** (d) COPY into events and (d′) into a primary-key-only table, of the rows (c) stored, per batched shape. */
  ceilings?: Partial<Record<Shape, { copy: StorageResult; primaryKeyOnly: StorageResult }>>;
  flush?: { flushRows: number; concurrency: number; production: StorageResult; statement: StorageResult; withoutDedupe: StorageResult };
  /** Rows without client ids flushed alone (production COPY path): as stored now, and all claimed in event_ids as before. */
  claims?: { unclaimed: StorageResult; claimed: StorageResult };
  peakRssMb: Record<string, number>;
  targets: Target[];
}

const CASE_LABEL: Record<string, string> = {
  bare: '(a) bare Express',
  naive: '(b) naive Express + pg',
  before: '(c0) this service before',
  service: '(c) this service',
};

const SHAPE_LABEL: Record<Shape, string> = {
  single: 'single events',
  batch: '100-event batches',
  'batch-no-ids': '100-event batches without ids',
};

const round = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

function find(report: BenchReport, c: CaseRun['case'], shape: Shape, mode: CaseRun['mode'] = 'max'): CaseRun | undefined {
  return report.runs.find((r) => r.case === c && r.shape === shape && r.mode === mode);
}

export function evaluateTargets(report: BenchReport): Target[] {
  const rate = (r: CaseRun | undefined) => r?.eventsPerS ?? NaN;
  const serviceBatch = rate(find(report, 'service', 'batch'));
  const ratio = (name: string, goal: number, value: number, what: string): Target => ({
    name,
    goal: `≥ ${goal}`,
    measured: `${round(value, 2)} (${what})`,
    met: value >= goal,
  });
  const req = (c: CaseRun['case'], shape: Shape) => find(report, c, shape)?.reqPerS ?? NaN;
  const vsCeiling = (shape: Shape, ceiling: 'copy' | 'primaryKeyOnly', goal: number, name: string) => {
    const service = rate(find(report, 'service', shape));
    const limit = report.ceilings?.[shape]?.[ceiling].rowsPerS ?? NaN;
    return ratio(name, goal, service / limit, `${round(service)} vs ${round(limit)} events/s`);
  };
  const targets = [
    ratio(
      '(c)/(b) single events vs naive Express + pg',
      1.5,
      req('service', 'single') / req('naive', 'single'),
      `${round(req('service', 'single'))} vs ${round(req('naive', 'single'))} req/s`,
    ),
    vsCeiling('batch', 'copy', 0.5, '(c)/(d) 100-event batches vs COPY into events'),
    vsCeiling('batch-no-ids', 'primaryKeyOnly', 0.5, '(c)/(d′) 100-event batches without ids vs COPY into a primary-key-only table'),
    vsCeiling('batch', 'primaryKeyOnly', 0.4, '(c)/(d′) 100-event batches with client ids vs COPY into a primary-key-only table'),
    ratio(
      '(c)/(b) batches vs naive',
      10,
      serviceBatch / rate(find(report, 'naive', 'batch')),
      `${round(serviceBatch)} vs ${round(rate(find(report, 'naive', 'batch')))} events/s`,
    ),
  ];
  for (const shape of ['single', 'batch'] as const) {
    const fixed = find(report, 'service', shape, 'fixed');
    const stall = stallSharePct(fixed?.window);
    const met = (fixed?.p99Ms ?? Infinity) < 50;
    targets.push({
      name: `p99 at half load, ${SHAPE_LABEL[shape]} (counts when the stall share < ${STALL_SHARE_LIMIT_PCT} %)`,
      goal: '< 50 ms',
      measured: `${round(fixed?.p99Ms ?? NaN, 1)} ms at ${round(fixed?.targetRate ?? NaN)} req/s, stall share ${stall ?? 'n/a'} %`,
      met,
      machineStalled: !met && stall !== undefined && stall >= STALL_SHARE_LIMIT_PCT,
    });
  }
  const rss = report.peakRssMb.service ?? NaN;
  targets.push({ name: 'peak RSS of the service', goal: '< 256 MB', measured: `${rss} MB`, met: rss < 256 });
  const serviceRuns = report.runs.filter((r) => r.case === 'service');
  const missing = serviceRuns.reduce((sum, r) => sum + (r.missing ?? 0), 0);
  const acknowledged = serviceRuns.reduce((sum, r) => sum + (r.acknowledged ?? 0), 0);
  targets.push({ name: 'acknowledged events missing', goal: '0', measured: `${missing} of ${acknowledged}`, met: missing === 0 });
  return targets;
}

/** (c) against (c0), the same service at revision `beforeCommit`, measured in the same run. */
function beforeAfter(report: BenchReport): string[] {
  if (!report.beforeCommit) return [];
  const shapes = (['single', 'batch', 'batch-no-ids'] as const).map((shape) => {
    const [b, a] = [find(report, 'before', shape), find(report, 'service', shape)];
    return `${SHAPE_LABEL[shape]} ${round(b?.eventsPerS ?? NaN)} → ${round(a?.eventsPerS ?? NaN)} events/s (× ${round((a?.eventsPerS ?? NaN) / (b?.eventsPerS ?? NaN), 2)})`;
  });
  return [
    `Before → after, side by side in this run ((c0) = commit ${report.beforeCommit}, (c) = this checkout): ${shapes.join('; ')}.`,
    '',
  ];
}

/** Each variant against (c) in the same run: events/s and the service's CPU per event, per shape. */
function variants(report: BenchReport): string[] {
  const names = [...new Set(report.runs.filter((r) => r.case.startsWith('variant ')).map((r) => r.case))];
  if (!names.length) return [];
  const cpuPerEvent = (r: CaseRun) => ((r.serverCpuMs ?? NaN) * 1000) / (r.requests * (r.eventsPerS / r.reqPerS || 1));
  return [
    'Variants against (c), side by side in this run (events/s, service CPU µs per event):',
    '',
    ...names.map((name) => {
      const commit = report.variantCommits?.[name.slice('variant '.length)];
      const shapes = (['single', 'batch', 'batch-no-ids'] as const).flatMap((shape) => {
        const [v, c] = [find(report, name, shape), find(report, 'service', shape)];
        if (!v || !c) return [];
        return [
          `${SHAPE_LABEL[shape]} ${round(v.eventsPerS)} vs ${round(c.eventsPerS)} (× ${round(v.eventsPerS / c.eventsPerS, 3)}), ${round(cpuPerEvent(v), 2)} vs ${round(cpuPerEvent(c), 2)} µs`,
        ];
      });
      return `- ${name}${commit ? ` (commit ${commit})` : ''}: ${shapes.join('; ')}`;
    }),
    '',
  ];
}

/**
 * (c) against (d′) by CPU cost instead of rate: the CPU time of every process each side needs per event (service,
 * PostgreSQL, Redis and load generator; PostgreSQL and psql). Other work on a shared machine slows both rates
 * unequally (three busy processes against one), their costs much less.
 */
function costRatios(report: BenchReport): string[] {
  const parts = (['batch-no-ids', 'batch'] as const).flatMap((shape) => {
    const c = find(report, 'service', shape);
    const limit = report.ceilings?.[shape]?.primaryKeyOnly;
    if (!c || limit?.dbCpuMs === undefined || limit.clientCpuMs === undefined) return [];
    const events = c.requests * (c.eventsPerS / c.reqPerS || 1);
    const cCost = (((c.serverCpuMs ?? 0) + (c.dbCpuMs ?? 0) + (c.redisCpuMs ?? 0) + (c.loadCpuMs ?? 0)) * 1000) / events;
    const dCost = ((limit.dbCpuMs + limit.clientCpuMs) * 1000) / limit.rows;
    return [`${SHAPE_LABEL[shape]} ${round(dCost / cCost, 2)} (${round(dCost, 1)} µs per row against ${round(cCost, 1)} µs per event)`];
  });
  return parts.length ? [`(c)/(d′) by CPU cost, all processes of each side: ${parts.join('; ')}.`, ''] : [];
}

/** The flush alone: the production path (binary COPY), the deduplicating statement and that statement without dedupe, against COPY. */
function flushStatement(report: BenchReport): string[] {
  const { flush } = report;
  const copy = report.ceilings?.batch?.copy;
  if (!flush?.production || !copy) return [];
  const pct = (a: StorageResult, b: StorageResult) => round((1 - a.rowsPerS / b.rowsPerS) * 100);
  return [
    `Flushes alone (no HTTP), ${flush.production.rows} of the same rows, ${flush.flushRows} per flush, ${flush.concurrency} at once:`,
    `production (binary COPY into event_ids and events, one transaction) ${round(flush.production.rowsPerS)} rows/s; ` +
      `the deduplicating statement it falls back to when a flush holds a duplicate ${round(flush.statement.rowsPerS)} rows/s ` +
      `(× ${(flush.production.rowsPerS / flush.statement.rowsPerS).toFixed(2)} for COPY); ` +
      `that statement without its event_ids step ${round(flush.withoutDedupe.rowsPerS)} rows/s ` +
      `(dedupe costs ${pct(flush.statement, flush.withoutDedupe)} % of statement throughput); psql COPY into events alone ${round(copy.rowsPerS)} rows/s.`,
    '',
  ];
}

/** What claiming ids the service generated cost: the same rows flushed alone with and without claims. */
function claimsStatement(report: BenchReport): string[] {
  const { claims } = report;
  if (!claims) return [];
  const perRow = (r: StorageResult) => round(((r.dbCpuMs ?? NaN) * 1000) / r.rows, 2);
  return [
    `Rows without client ids, flushed alone (production COPY path, 2,000 per flush, 4 at once, ABBA, ${claims.unclaimed.rows} rows each way): ` +
      `unclaimed as now ${round(claims.unclaimed.rowsPerS)} rows/s and ${perRow(claims.unclaimed)} µs of PostgreSQL CPU per row; ` +
      `all claimed in event_ids as before ${round(claims.claimed.rowsPerS)} rows/s and ${perRow(claims.claimed)} µs ` +
      `(× ${round(claims.unclaimed.rowsPerS / claims.claimed.rowsPerS, 2)} rows/s without claims).`,
    '',
  ];
}

/** A copy's CPU per row in the table's columns: server (none), PostgreSQL, Redis (none), client (psql). */
const copyCpu = (r: StorageResult) =>
  ['', r.dbCpuMs, '', r.clientCpuMs].map((ms) => (typeof ms === 'number' ? round((ms * 1000) / r.rows, 1) : '')).join(' | ');

export function renderMarkdown(report: BenchReport): string {
  const m = report.machine;
  // The benchmark itself keeps every core busy (server, load generator, PostgreSQL), so only the load
  // found before it starts tells of other work; a whole core's worth of it is worth a warning.
  const busy = m.load1AtStart >= 1;
  const lines = [
    `# Benchmark results (${report.kind} run, ${report.date}${report.commit ? `, commit ${report.commit}` : ''})`,
    '',
    `Machine: ${m.cores} cores (${m.cpu}), ${m.memoryGb} GB; Node ${m.node}; PostgreSQL ${m.postgres} (${m.postgresSettings}).`,
    `Load average (1 min): ${m.load1AtStart} at start, ${m.load1AtEnd} at the end${
      busy ? ' — **the machine was busy with other work during this run**: compare the ratios, not the absolute figures' : ''
    }.`,
    `Closed-loop runs: ${report.timing.warmupS} s warm-up per case (discarded), then ${report.timing.rounds} round(s) of ${report.timing.roundS} s per case, ` +
      `the cases interleaved (a, b, c, a, b, c, …) so load drift hits them alike; rates from the totals, p50/p99 the median of the rounds. ` +
      `Fixed-rate runs: ${report.timing.fixedS} s, open loop, latency from each request's scheduled send time${report.timing.fixedWarmupS ? `, after a discarded ${report.timing.fixedWarmupS} s warm-up at the same rate (its events checked too)` : ''}.`,
    '',
    '| case | requests | mode | conns | req/s | events/s | p50 ms | p99 ms | errors | CPU µs/event: server | PostgreSQL | Redis | load gen | acked events | missing | load1 |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...report.runs
      .map((r) =>
        [
          CASE_LABEL[r.case] ?? `(c) ${r.case}`,
          SHAPE_LABEL[r.shape],
          r.mode === 'max' ? 'max (closed loop)' : `fixed ${round(r.targetRate ?? NaN)} req/s`,
          r.connections ?? '≤256',
          round(r.reqPerS),
          round(r.eventsPerS),
          round(r.p50Ms, 1),
          round(r.p99Ms, 1),
          r.errors ? `${r.errors} ${JSON.stringify(r.errorDetail)}` : '0',
          ...[r.serverCpuMs, r.dbCpuMs, r.redisCpuMs, r.loadCpuMs].map((ms) =>
            ms === undefined ? '' : round((ms * 1000) / (r.requests * (r.eventsPerS / r.reqPerS || 1)), 1),
          ),
          r.acknowledged ?? '',
          r.missing ?? '',
          r.load1,
        ].join(' | '),
      )
      .map((row) => `| ${row} |`),
    ...(Object.entries(report.ceilings ?? {}) as Array<[Shape, NonNullable<BenchReport['ceilings']>[Shape]]>).flatMap(([shape, c]) => [
      `| (d) PostgreSQL COPY into events | ${c!.copy.rows} rows of (c), ${SHAPE_LABEL[shape]} | psql \\copy, end to end |  |  | ${round(c!.copy.rowsPerS)} |  |  | 0 | ${copyCpu(c!.copy)} |  |  |  |`,
      `| (d′) COPY into a primary-key-only table | the same rows | psql \\copy, end to end |  |  | ${round(c!.primaryKeyOnly.rowsPerS)} |  |  | 0 | ${copyCpu(c!.primaryKeyOnly)} |  |  |  |`,
    ]),
    '',
    ...costRatios(report),
    ...beforeAfter(report),
    ...variants(report),
    `Peak RSS (VmHWM): ${Object.entries(report.peakRssMb)
      .map(([k, v]) => `${k} ${v} MB`)
      .join(', ')}.`,
    ...report.runs
      .filter((r) => r.mode === 'fixed' && r.window)
      .map(
        (r) =>
          `Fixed-rate window of ${CASE_LABEL[r.case] ?? r.case}, ${SHAPE_LABEL[r.shape]}: p99 ${round(r.p99Ms, 1)} ms, slowest request ${round(r.maxMs ?? NaN)} ms, ${r.over50Ms} of ${r.requests} over 50 ms; ${r.window!.checkpoints} checkpoint(s); stall share ${stallSharePct(r.window) ?? 'n/a'} % (some task waiting for a CPU ${r.window!.cpuSomePct ?? 'n/a'} %, every task waiting for I/O ${r.window!.ioFullPct ?? 'n/a'} %).`,
      ),
    ...report.runs
      .filter((r) => r.flush)
      .map(
        (r) =>
          `Flushes of ${CASE_LABEL[r.case] ?? r.case} during the ${r.shape} run: ${r.flush!.flushes} so far, ${r.flush!.meanRows} rows and ${r.flush!.meanMs} ms on average.`,
      ),
    '',
    ...flushStatement(report),
    ...claimsStatement(report),
    '## Targets',
    '',
    '| target | goal | measured | |',
    '| --- | --- | --- | --- |',
    ...report.targets.map(
      (t) =>
        `| ${t.name} | ${t.goal} | ${t.measured} | ${t.met ? 'met' : t.machineStalled ? 'missed, machine stalled (not counted)' : '**missed**'} |`,
    ),
    '',
  ];
  const analysis = path.join(__dirname, 'analysis.md');
  if (report.kind === 'full' && fs.existsSync(analysis)) lines.push(fs.readFileSync(analysis, 'utf8').trim(), '');
  return lines.join('\n');
}
