/**
 * `make bench-postgres`: PostgreSQL server settings compared side by side, in one run. Each variant runs in
 * sessions, one at a time and in ABBA order (A B, B A, A B …), each session a fresh durable cluster (fsync
 * and synchronous_commit on) with its own built service and Redis, so one variant's checkpoints never land
 * in another's measurement, and drift of the shared machine hits every variant alike. A session measures:
 *   1. closed loop (as `make bench`'s maximum): events/s, and CPU per event of PostgreSQL, the service and
 *      the whole machine (which also counts the kernel's write-back threads);
 *   2. fixed rate, open loop, at half of the first session's maximum (the same for every session): p99, max
 *      and requests over 50 ms per window, checkpoints and pages the backends wrote themselves, and what
 *      PostgreSQL's client backends waited on while a statement had run for over 15 ms (sampled every 10 ms).
 * After every session each acknowledged event is looked up in PostgreSQL: zero missing, or the run fails.
 *
 *   tsx bench/postgres-settings.ts [--variant NAME:name=value,name=value]... [--shape batch|single] [--sessions N]
 *     [--rounds N] [--round-s S] [--windows N] [--window-s S] [--rate REQ_PER_S] [--smoke] [--out DIR]
 *
 * Variants by default: "postgresql.conf" (infra/postgres/postgresql.conf as it is) and "PostgreSQL defaults"
 * (each of its settings at PostgreSQL's built-in value); each --variant adds one on top of the file.
 * Results: postgres-settings.{md,json} in --out (default bench/results; out/bench-postgres with --smoke).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Client } from 'pg';
import { postgresSettings } from '../infra/postgres/settings';
import { parseVariant } from './args';
import { clusterCpuMs, cpuMs, machineBusyMs } from './cpu';
import { Acks, closedLoop, openLoop, RunResult, Sequence, Target } from './load';
import { startBenchService, startBenchStores } from './service';
import { bgwriter, missingAcknowledged, query } from './storage';
import { CONNECTIONS, createWorkload, Shape, Workload } from './workload';

const ROOT = path.join(__dirname, '..');
const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const SMOKE = args.includes('--smoke');
const SHAPE = (arg('--shape') ?? 'batch') as Shape;
if (SHAPE !== 'batch' && SHAPE !== 'single') throw new Error(`--shape must be batch or single, not ${SHAPE}`);
const SESSIONS = Number(arg('--sessions') ?? (SMOKE ? 1 : 3));
const ROUNDS = Number(arg('--rounds') ?? (SMOKE ? 1 : 2));
const ROUND_S = Number(arg('--round-s') ?? (SMOKE ? 2 : 10));
const WINDOWS = Number(arg('--windows') ?? (SMOKE ? 1 : 3));
const WINDOW_S = Number(arg('--window-s') ?? (SMOKE ? 2 : 20));
const WARMUP_S = SMOKE ? 1 : 5;
const OUT = path.resolve(arg('--out') ?? path.join(ROOT, SMOKE ? 'out/bench-postgres' : 'bench/results'));
const log = (message: string) => console.log(`bench-postgres: ${message}`);

interface Variant {
  name: string;
  /** Settings over the file's. */
  settings: Array<[string, string]>;
}

interface VariantRun extends Variant {
  shown: string;
  closed: { eventsPerS: number; p99Ms: number; pgUsPerEvent: number; serviceUsPerEvent: number; machineUsPerEvent: number };
  windows: Array<Pick<RunResult, 'p50Ms' | 'p99Ms' | 'maxMs' | 'over50Ms' | 'requests' | 'errors'>>;
  checkpoints: number;
  backendBuffers: number;
  waits: Record<string, number>;
  acknowledged: number;
  missing: number;
}

/** PostgreSQL's built-in values of `names`, in its base units (what `-c name=value` reads without a unit). */
async function builtInValues(url: string, names: string[]): Promise<Array<[string, string]>> {
  const rows = await query<{ name: string; boot_val: string }>(url, 'SELECT name, boot_val FROM pg_settings WHERE name = ANY($1)', [names]);
  const missing = names.filter((n) => !rows.some((r) => r.name === n));
  if (missing.length) throw new Error(`PostgreSQL does not know the setting(s) ${missing.join(', ')}`);
  return names.map((n) => [n, rows.find((r) => r.name === n)!.boot_val] as [string, string]);
}

/** Samples what client backends wait on once a statement has run for over 15 ms, until `stop()`. */
function sampleWaits(url: string): { stop(): Promise<Record<string, number>> } {
  const tally: Record<string, number> = {};
  let running = true;
  const client = new Client({ connectionString: url });
  const done = (async () => {
    await client.connect();
    try {
      while (running) {
        const { rows } = await client.query<{ wait: string }>(
          `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS wait FROM pg_stat_activity
            WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()
              AND clock_timestamp() - query_start > interval '15 ms'`,
        );
        for (const { wait } of rows) tally[wait] = (tally[wait] ?? 0) + 1;
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await client.end();
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return tally;
    },
  };
}

async function main(): Promise<void> {
  const appMain = path.join(ROOT, 'app', 'dist', 'server.js');
  if (!fs.existsSync(appMain)) throw new Error('app/dist/server.js is missing: run `npm run build -w app` (make bench-postgres does)');
  const fileSettings = postgresSettings();
  const extra = args.flatMap((a, i) => {
    if (a !== '--variant') return [];
    const { name, pairs } = parseVariant(args[i + 1] ?? '', '--variant');
    return [{ name, settings: pairs }];
  });
  fs.mkdirSync(OUT, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'event-bench-postgres-'));
  fs.chmodSync(work, 0o755);
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((err: Error) => console.error(`bench-postgres: ${err.message}`));
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  log(`${SMOKE ? 'smoke run' : 'full run'}, ${SHAPE} requests; scratch in ${work}; load average ${os.loadavg()[0]!.toFixed(2)}`);

  try {
    const adminToken = randomBytes(32).toString('hex');
    const ts = new Date().toISOString();
    const connections = CONNECTIONS[SHAPE];
    let rate = arg('--rate') ? Number(arg('--rate')) : 0;
    let builtIn: Array<[string, string]> | undefined;
    const variants: Variant[] = [{ name: 'postgresql.conf', settings: [] }, { name: 'PostgreSQL defaults', settings: [] }, ...extra];
    const state = variants.map((v) => ({
      v,
      events: 0,
      seconds: 0,
      cpu: { pg: 0, service: 0, machine: 0 },
      p99s: [] as number[],
      windows: [] as VariantRun['windows'],
      checkpoints: 0,
      backendBuffers: 0,
      waits: {} as Record<string, number>,
      acknowledged: 0,
      missing: 0,
      shown: '',
    }));
    let sessionNo = 0;
    /** One session: a fresh cluster with the variant's settings, its own service, closed loop then fixed-rate windows. */
    const session = async (st: (typeof state)[number]) => {
      const dir = path.join(work, `s${++sessionNo}`);
      const sessionStops: Array<() => Promise<void>> = [];
      const mark = stops.length;
      try {
        const { pg, redis, postmasterPid } = await startBenchStores(dir, 'events', sessionStops, st.v.settings);
        stops.push(...sessionStops);
        if (!builtIn) {
          builtIn = await builtInValues(
            pg.adminUrl,
            fileSettings.map(([n]) => n),
          );
          state[1]!.v.settings = builtIn; // the first session is always the file's, so this is set before it is used
        }
        const logDir = path.join(dir, 'logs');
        fs.mkdirSync(logDir, { recursive: true });
        const svc = await startBenchService({
          name: 'event-service',
          main: appMain,
          databaseUrl: pg.url,
          redisUrl: redis.url,
          adminToken,
          logDir,
        });
        stops.push(() => svc.proc.stop(15000));
        const sensor = await svc.newSensor('bench-postgres');
        const target: Target = { url: svc.url, headers: { authorization: `Bearer ${sensor.token}` } };
        const workload: Workload = createWorkload(SHAPE, ts);
        const seq: Sequence = { next: 0 };
        const acks: Acks = new Map();
        const name = `${st.v.name} (session ${sessionNo})`;
        log(`${name}: ${st.v.settings.map(([k, val]) => `${k}=${val}`).join(', ') || 'postgresql.conf as it is'}; warm-up ${WARMUP_S} s`);
        await closedLoop(target, workload, seq, acks, { connections, durationS: WARMUP_S });
        let sessionEvents = 0;
        let sessionSeconds = 0;
        for (let round = 1; round <= ROUNDS; round++) {
          const before = { pg: clusterCpuMs(postmasterPid), service: cpuMs(svc.proc.child.pid!), machine: machineBusyMs() };
          const r = await closedLoop(target, workload, seq, acks, { connections, durationS: ROUND_S });
          st.cpu.pg += clusterCpuMs(postmasterPid) - before.pg;
          st.cpu.service += cpuMs(svc.proc.child.pid!) - before.service;
          st.cpu.machine += machineBusyMs() - before.machine;
          sessionEvents += r.eventsPerS * r.durationS;
          sessionSeconds += r.durationS;
          st.p99s.push(r.p99Ms);
          log(
            `${name} round ${round}/${ROUNDS}: ${Math.round(r.eventsPerS)} events/s, p99 ${r.p99Ms} ms${r.errors ? `, ${r.errors} errors` : ''}`,
          );
        }
        st.events += sessionEvents;
        st.seconds += sessionSeconds;
        if (!rate) {
          rate = Math.max(1, Math.round(sessionEvents / sessionSeconds / workload.eventsPerRequest / 2));
          log(`fixed rate for every session: ${rate} req/s (half of this first session's maximum)`);
        }
        for (let w = 1; w <= WINDOWS; w++) {
          const before = await bgwriter(pg.adminUrl);
          const sampler = sampleWaits(pg.url);
          const r = await openLoop(target, workload, seq, acks, { rate, durationS: WINDOW_S, maxSockets: 256 });
          for (const [k, n] of Object.entries(await sampler.stop())) st.waits[k] = (st.waits[k] ?? 0) + n;
          const after = await bgwriter(pg.adminUrl);
          st.checkpoints += after.checkpoints - before.checkpoints;
          st.backendBuffers += after.backendBuffers - before.backendBuffers;
          st.windows.push({ p50Ms: r.p50Ms, p99Ms: r.p99Ms, maxMs: r.maxMs, over50Ms: r.over50Ms, requests: r.requests, errors: r.errors });
          log(
            `${name} window ${w}/${WINDOWS} at ${rate} req/s: p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, max ${r.maxMs!.toFixed(0)} ms, ${r.over50Ms} of ${r.requests} over 50 ms, ${after.checkpoints - before.checkpoints} checkpoint(s)${r.errors ? `, ${r.errors} errors` : ''}`,
          );
        }
        const m = await missingAcknowledged(pg.url, sensor.sensorId, workload, acks);
        log(`${name}: ${m.acknowledged} events acknowledged, ${m.missing} missing in PostgreSQL`);
        st.acknowledged += m.acknowledged;
        st.missing += m.missing;
        const [shown] = await query<{ s: string }>(
          pg.adminUrl,
          `SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) AS s FROM pg_settings WHERE name = ANY($1)`,
          [fileSettings.map(([n]) => n).concat(st.v.settings.map(([n]) => n))],
        );
        st.shown = shown!.s;
      } finally {
        for (const stop of stops.splice(mark).reverse())
          await stop().catch((err: Error) => console.error(`bench-postgres: ${err.message}`));
      }
    };
    // ABBA order (A B C, C B A, A B C …): no variant always follows the same one.
    for (let n = 0; n < SESSIONS; n++) for (const st of n % 2 ? [...state].reverse() : state) await session(st);

    const runs: VariantRun[] = state.map((st) => ({
      ...st.v,
      shown: st.shown,
      closed: {
        eventsPerS: st.events / st.seconds,
        p99Ms: st.p99s.sort((a, b) => a - b)[Math.floor(st.p99s.length / 2)]!,
        pgUsPerEvent: (st.cpu.pg * 1000) / st.events,
        serviceUsPerEvent: (st.cpu.service * 1000) / st.events,
        machineUsPerEvent: (st.cpu.machine * 1000) / st.events,
      },
      windows: st.windows,
      checkpoints: st.checkpoints,
      backendBuffers: st.backendBuffers,
      waits: st.waits,
      acknowledged: st.acknowledged,
      missing: st.missing,
    }));
    const report = {
      kind: SMOKE ? 'smoke' : 'full',
      date: new Date().toISOString(),
      commit: execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']).toString().trim(),
      shape: SHAPE,
      timing: { sessions: SESSIONS, warmupS: WARMUP_S, rounds: ROUNDS, roundS: ROUND_S, windows: WINDOWS, windowS: WINDOW_S, rate },
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, load1AtEnd: os.loadavg()[0] },
      runs,
    };
    const markdown = render(report);
    fs.writeFileSync(path.join(OUT, 'postgres-settings.json'), `${JSON.stringify(report, null, 2)}\n`);
    fs.writeFileSync(path.join(OUT, 'postgres-settings.md'), markdown);
    console.log(`\n${markdown}`);
    const problems = runs.flatMap((r) => [
      ...(r.missing ? [`${r.name}: ${r.missing} acknowledged events missing`] : []),
      ...(r.windows.some((w) => w.errors) ? [`${r.name}: errors in the fixed-rate windows`] : []),
    ]);
    if (problems.length) {
      for (const p of problems) console.error(`bench-postgres: FAILED: ${p}`);
      process.exitCode = 1;
    }
  } finally {
    await stopAll();
    if (!process.exitCode) fs.rmSync(work, { recursive: true, force: true });
    else log(`logs kept in ${work}`);
  }
}

function render(r: {
  date: string;
  commit: string;
  shape: Shape;
  timing: { sessions: number; rounds: number; roundS: number; windows: number; windowS: number; rate: number };
  machine: { cores: number; cpu: string; node: string };
  runs: VariantRun[];
}): string {
  const base = r.runs[0]!;
  const f1 = (n: number) => n.toFixed(1);
  const lines = [
    `# PostgreSQL settings side by side (${r.shape === 'batch' ? '100-event batches' : 'single events'})`,
    '',
    `${r.date}, commit ${r.commit}; ${r.machine.cores} cores (${r.machine.cpu}), Node ${r.machine.node}. Written by \`make bench-postgres\` (bench/postgres-settings.ts).`,
    `${r.timing.sessions} session(s) per variant in ABBA order, each a fresh cluster (fsync and synchronous_commit on) with its own service.`,
    `Per session: closed loop ${r.timing.rounds} × ${r.timing.roundS} s after a warm-up, then ${r.timing.windows} × ${r.timing.windowS} s at a fixed ${r.timing.rate} req/s (open loop, latency from each request's scheduled send time).`,
    '',
    '| variant | settings | events/s (max) | vs first | CPU µs/event: PostgreSQL | service | whole machine | p99 per window ms | max ms | requests > 50 ms | checkpoints | pages written by backends | missing |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
    ...r.runs
      .map((v) =>
        [
          v.name,
          v.shown,
          Math.round(v.closed.eventsPerS),
          (v.closed.eventsPerS / base.closed.eventsPerS).toFixed(2),
          f1(v.closed.pgUsPerEvent),
          f1(v.closed.serviceUsPerEvent),
          f1(v.closed.machineUsPerEvent),
          v.windows.map((w) => f1(w.p99Ms)).join(' / '),
          Math.round(Math.max(...v.windows.map((w) => w.maxMs ?? 0))),
          `${v.windows.reduce((s, w) => s + (w.over50Ms ?? 0), 0)} of ${v.windows.reduce((s, w) => s + w.requests, 0)}`,
          v.checkpoints,
          v.backendBuffers,
          v.missing,
        ].join(' | '),
      )
      .map((row) => `| ${row} |`),
    '',
    'What client backends waited on while a statement had run for over 15 ms (samples every 10 ms during the fixed-rate windows):',
    '',
    ...r.runs.map((v) => {
      const total = Object.values(v.waits).reduce((s, n) => s + n, 0);
      const top = Object.entries(v.waits)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([k, n]) => `${k} ${Math.round((n / total) * 100)} %`)
        .join(', ');
      return `- ${v.name}: ${total} samples${total ? `: ${top}` : ''}`;
    }),
    '',
  ];
  return lines.join('\n');
}

main().catch((err: Error) => {
  console.error(`bench-postgres: ${err.stack ?? err.message}`);
  process.exit(1);
});
