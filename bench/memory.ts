/**
 * `make bench-memory` (root, by hand): the service in a memory cgroup at the limit the staging and prod stacks give
 * it, driven from outside the cgroup through the worst case of issue 25:
 *   1. 100,000 distinct sensors send an event each (token cache and limiter buckets full);
 *   2. PostgreSQL stalls (a lock on event_ids held by another session: every flush waits), and full bodies are
 *      sent until the ingest queue holds INGEST_QUEUE_MAX_BYTES;
 *   3. then INGEST_BODIES_MAX uploads of nearly BODY_LIMIT_BYTES each are held in flight, all their bytes but the
 *      last sent; the last bytes are sent together, so every body is parsed at once against the full queue;
 *   4. the stall ends; every event answered 202 must be in PostgreSQL.
 * The service runs with the NODE_OPTIONS the Deployment derives from that limit (infra nodeOptions) and the
 * ingest settings' defaults. The cgroup's peak usage, failcnt and OOM kills, and whether the process lived,
 * go to bench/results/memory.{md,json}.
 *
 *   tsx bench/memory.ts [--limit 512Mi] [--node-options '--max-old-space-size=…'] [--sensors 100000] [--hold-s 5] [--out DIR]
 * (--node-options replaces the flags derived from the limit: to show what other flags do in that limit)
 *
 * One setting differs from production: DB_STATEMENT_TIMEOUT_MS is raised to 120 s, so the stalled flushes hold
 * their rows for the whole run instead of failing after 5 s and emptying the queue (a slow PostgreSQL whose
 * flushes still finish holds the queue full the same way).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { settings } from '../app/src/config';
import { nodeOptions } from '../infra/components/event-service';
import { quantityBytes } from '../infra/components/redis';
import { loadStackFile } from '../infra/stack-schema';
import { sleep } from '../tools/stack/process';
import { CgroupReading, CgroupTotals, MemoryCgroup } from './cgroup';
import { manySensors, Sequence } from './load';
import { createManySensors } from './many-sensors';
import { BenchService, startBenchService, startBenchStores } from './service';
import { query } from './storage';
import { createWorkload } from './workload';

const ROOT = path.join(__dirname, '..');
const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const SENSORS = Number(arg('--sensors') ?? 100_000);
const HOLD_S = Number(arg('--hold-s') ?? 5);
const OUT = path.resolve(arg('--out') ?? path.join(ROOT, 'bench/results'));

const defaultOf = (name: keyof typeof settings) => Number((settings[name] as { default?: string }).default);
const BODY_LIMIT = defaultOf('BODY_LIMIT_BYTES');
const BODIES_MAX = defaultOf('INGEST_BODIES_MAX');
const QUEUE_MAX_BYTES = defaultOf('INGEST_QUEUE_MAX_BYTES');
const PAYLOAD_MAX = defaultOf('PAYLOAD_MAX_BYTES');

const log = (message: string) => console.log(`bench-memory: ${message}`);
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** The app's memory limit in the staging and prod stack files (they must agree: one size is measured). */
function stackLimits(): Record<'staging' | 'prod', string> {
  const limitOf = (stack: string) =>
    (loadStackFile(path.join(ROOT, `Pulumi.${stack}.yaml`)).config as { app: { resources: { limits: { memory: string } } } }).app.resources
      .limits.memory;
  return { staging: limitOf('staging'), prod: limitOf('prod') };
}

/** Bodies of the worst case: as many events of a payload just under PAYLOAD_MAX_BYTES as fit under BODY_LIMIT_BYTES. */
const PAYLOAD = JSON.stringify({ blob: 'x'.repeat(PAYLOAD_MAX - 16) });
const eventJson = (id: string) => `{"id":"${id}","type":"memory","payload":${PAYLOAD}}`;
const EVENTS_PER_BODY = Math.floor((BODY_LIMIT - 16) / (eventJson(randomUUID()).length + 1));
function fullBody(): { ids: string[]; body: string } {
  const ids = Array.from({ length: EVENTS_PER_BODY }, () => randomUUID());
  return { ids, body: `{"events":[${ids.map(eventJson).join(',')}]}` };
}
/** A filler's accepted request waits for its commit (stalled): enough loops for a full queue, and more that keep asking. */
const FILLERS = Math.ceil(QUEUE_MAX_BYTES / Buffer.byteLength(fullBody().body)) + 32;

/** The service's own gauges: its queue, its bodies in flight, and V8's heap and off-heap (Buffers) memory. */
interface Gauges {
  queueBytes?: number;
  bodiesInFlight?: number;
  heapUsedBytes?: number;
  externalBytes?: number;
}
const GAUGES: Record<keyof Gauges, string> = {
  queueBytes: 'ingest_queue_bytes',
  bodiesInFlight: 'ingest_bodies_in_flight',
  heapUsedBytes: 'nodejs_heap_size_used_bytes',
  externalBytes: 'nodejs_external_memory_bytes',
};

interface Sample extends CgroupReading, Gauges {
  atMs: number;
}

/** Reads the cgroup every 50 ms and the service's queue and body gauges every 200 ms, until stopped. */
function startSampler(cgroup: MemoryCgroup, url: string) {
  const samples: Sample[] = [];
  const gauges: Gauges = {};
  const began = performance.now();
  let running = true;
  const readGauges = async () => {
    while (running) {
      try {
        const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
        for (const [key, name] of Object.entries(GAUGES))
          gauges[key as keyof Gauges] = Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      } catch {
        for (const key of Object.keys(GAUGES)) gauges[key as keyof Gauges] = undefined;
      }
      await sleep(200);
    }
  };
  const gaugesDone = readGauges();
  const timer = setInterval(() => samples.push({ atMs: Math.round(performance.now() - began), ...cgroup.reading(), ...gauges }), 50);
  return {
    samples,
    gauges,
    async stop() {
      running = false;
      clearInterval(timer);
      await gaugesDone;
    },
  };
}

type Statuses = Record<string, number>;
const count = (counts: Statuses, status: number) => (counts[status] = (counts[status] ?? 0) + 1);

/** Phase 1: every sensor sends one event (each one's first request misses the token cache and starts a bucket). */
async function manySensorsPass(svc: BenchService, databaseUrl: string) {
  log(`${SENSORS} sensors, one event each`);
  const tokens = await createManySensors(databaseUrl, SENSORS);
  const workload = createWorkload('single', new Date().toISOString());
  const seq: Sequence = { next: 0 };
  const r = await manySensors(svc.url, tokens, workload, seq, { connections: 64, amount: SENSORS });
  log(`  ${Math.round(r.reqPerS)} req/s, ${r.ok} accepted, ${r.errors} errors`);
  return { tokens, ok: r.ok, errors: r.errors, errorDetail: r.errorDetail };
}

/** Full bodies from random sensors, one after another on each of FILLERS loops, until `stop()`. */
function startFillers(url: string, tokens: readonly string[], acked: string[], statuses: Statuses) {
  let stopping = false;
  const loop = async () => {
    while (!stopping) {
      const { ids, body } = fullBody();
      const token = tokens[Math.floor(Math.random() * tokens.length)]!;
      try {
        const res = await fetch(`${url}/api/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(300_000),
        });
        await res.arrayBuffer();
        count(statuses, res.status);
        if (res.status === 202) acked.push(...ids);
        else await sleep(20);
      } catch {
        count(statuses, 0);
        await sleep(20);
      }
    }
  };
  const loops = Array.from({ length: FILLERS }, loop);
  return {
    /** Stops sending; the requests already sent are still answered (`settled`). */
    stop: () => (stopping = true),
    settled: () => Promise.all(loops),
  };
}

/**
 * An upload held in flight: headers and every byte of a full body but the last, sent; the last once `release`
 * resolves. Resolves with the HTTP status (0: the connection closed without one).
 */
function heldUpload(url: string, token: string, release: Promise<void>, acked: string[]): Promise<number> {
  const { port } = new URL(url);
  const { ids, body } = fullBody();
  const bytes = Buffer.from(body);
  const head =
    `POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`;
  return new Promise((resolve) => {
    let answer = '';
    const socket = net.connect(Number(port), '127.0.0.1', () => {
      socket.write(head);
      socket.write(bytes.subarray(0, -1));
      void release.then(() => socket.writable && socket.write(bytes.subarray(-1)));
    });
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
      if (status === 202) acked.push(...ids);
      resolve(status);
    });
  });
}

/** Waits until `ok()` or `timeoutMs`; false on timeout, or as soon as the service has exited. */
async function until(ok: () => boolean, svc: BenchService, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (ok()) return true;
    if (exited(svc)) return false;
    await sleep(50);
  }
  return false;
}
const exited = (svc: BenchService) => svc.proc.child.exitCode !== null || svc.proc.child.signalCode !== null;

/** Phases 2–4: stall, fill the queue, hold every body slot, release the bodies at once, end the stall. */
async function worstCase(svc: BenchService, databaseUrl: string, tokens: readonly string[], gauges: Gauges) {
  const acked: string[] = [];
  const fillerStatuses: Statuses = {};
  const locker = new Client({ connectionString: databaseUrl });
  await locker.connect();
  try {
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE event_ids IN ACCESS EXCLUSIVE MODE'); // every flush (ids claimed first) now waits
    log(`stall: full bodies (${EVENTS_PER_BODY} events, ${mib(Buffer.byteLength(fullBody().body))} MiB each) until the queue is full`);
    const fillers = startFillers(svc.url, tokens, acked, fillerStatuses);
    const queueFull = await until(() => (gauges.queueBytes ?? 0) >= QUEUE_MAX_BYTES - BODY_LIMIT, svc, 120_000);
    fillers.stop();
    log(`  queue ${mib(gauges.queueBytes ?? 0)} MiB (full: ${queueFull}); now ${BODIES_MAX} uploads held in flight`);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    // A sensor of its own for each, so that none holds more than its share (none is evicted for another).
    const held = tokens.slice(0, BODIES_MAX).map((token) => heldUpload(svc.url, token, released, acked));
    const allHeld = await until(() => gauges.bodiesInFlight === BODIES_MAX, svc, 60_000);
    log(`  bodies in flight ${gauges.bodiesInFlight} (all held: ${allHeld}); holding ${HOLD_S} s`);
    await sleep(HOLD_S * 1000);
    release(); // every held body completes at once: all are parsed against the full queue
    await sleep(HOLD_S * 1000);
    await locker.query('COMMIT');
    log('stall ended; draining');
    const heldStatuses: Statuses = {};
    for (const status of await Promise.all(held)) count(heldStatuses, status);
    await fillers.settled();
    await until(() => gauges.queueBytes === 0, svc, 120_000);
    return { acked, queueFull, allHeld, fillerStatuses, heldStatuses };
  } finally {
    await locker.end().catch(() => undefined);
  }
}

/** Acknowledged events not found in `events` (by id; ids are random UUIDs, so nothing else can match). */
async function missingOf(databaseUrl: string, ids: readonly string[]): Promise<number> {
  const [{ n }] = (await query<{ n: string }>(databaseUrl, 'SELECT count(*) AS n FROM events WHERE event_id = ANY($1::uuid[])', [ids])) as [
    { n: string },
  ];
  return ids.length - Number(n);
}

export interface MemoryReport {
  date: string;
  durationS: number;
  machine: { cores: number; cpu: string; node: string; kernel: string };
  load1AtStart: number;
  load1AtEnd: number;
  limit: string;
  stackLimits: Record<string, string>;
  nodeOptions: string;
  /** False when --node-options replaced the flags the Deployment derives from the limit. */
  nodeOptionsFromLimit: boolean;
  settings: Record<string, number>;
  sensors: { count: number; ok: number; errors: number; missing: number };
  worstCase: {
    queueFull: boolean;
    allBodiesHeld: boolean;
    peakQueueMiB: number;
    peakBodiesInFlight: number;
    fillerStatuses: Statuses;
    heldStatuses: Statuses;
    acked: number;
    missing: number;
  };
  cgroup: CgroupTotals & { peakRssBytes: number; peakCacheBytes: number };
  /** Peaks of the service's own gauges, read every 200 ms (not at the same instant as the cgroup's peak). */
  service: { peakHeapUsedMiB: number; peakExternalMiB: number };
  survived: boolean;
  exit?: string;
}

function summarise(samples: Sample[]) {
  const max = (f: (s: Sample) => number | undefined) => Math.max(0, ...samples.map(f).filter((v): v is number => Number.isFinite(v)));
  return {
    peakRssBytes: max((s) => s.rssBytes),
    peakCacheBytes: max((s) => s.cacheBytes),
    peakQueueMiB: mib(max((s) => s.queueBytes)),
    peakBodiesInFlight: max((s) => s.bodiesInFlight),
    peakHeapUsedMiB: mib(max((s) => s.heapUsedBytes)),
    peakExternalMiB: mib(max((s) => s.externalBytes)),
  };
}

function render(r: MemoryReport): string {
  const c = r.cgroup;
  const w = r.worstCase;
  const statuses = (s: Statuses) =>
    Object.entries(s)
      .map(([k, v]) => `${k === '0' ? 'no answer' : k} × ${v}`)
      .join(', ') || 'none';
  return [
    `# The service's memory under a cgroup limit, in the worst case (${r.date}, ${r.durationS} s)`,
    '',
    `Machine: ${r.machine.cores} cores (${r.machine.cpu}), kernel ${r.machine.kernel}, Node ${r.machine.node}; load average ` +
      `${r.load1AtStart} at start, ${r.load1AtEnd} at the end. Produced by \`make bench-memory\` (bench/memory.ts).`,
    '',
    `The service ran alone in a cgroup v1 memory cgroup of **${r.limit}** (memory and memory + swap), the app's limit in ` +
      `the stack files (${Object.entries(r.stackLimits)
        .map(([k, v]) => `${k} ${v}`)
        .join(
          ', ',
        )}), with ${r.nodeOptionsFromLimit ? "the Deployment's" : '**other than the Deployment’s**'} \`NODE_OPTIONS=${r.nodeOptions}\` for that limit and the ingest defaults ` +
      `(${Object.entries(r.settings)
        .map(([k, v]) => `\`${k}=${v}\``)
        .join(', ')}), \`DB_STATEMENT_TIMEOUT_MS=120000\` so that stalled flushes keep their rows.`,
    '',
    '| step | result |',
    '| --- | --- |',
    `| ${r.sensors.count.toLocaleString('en-US')} sensors, one event each | ${r.sensors.ok.toLocaleString('en-US')} accepted, ${r.sensors.errors} errors, ${r.sensors.missing} missing |`,
    `| PostgreSQL stalled (lock on \`event_ids\`), queue filled with ~1 MiB bodies | queue peak ${w.peakQueueMiB} MiB (full: ${w.queueFull}); answers ${statuses(w.fillerStatuses)} |`,
    `| ${r.settings.INGEST_BODIES_MAX} uploads held in flight, then completed at once | bodies in flight peak ${w.peakBodiesInFlight} (all held: ${w.allBodiesHeld}); answers ${statuses(w.heldStatuses)} |`,
    `| stall ended, queue drained | ${w.acked.toLocaleString('en-US')} events acknowledged, **${w.missing} missing** |`,
    '',
    '| cgroup | value |',
    '| --- | --- |',
    `| limit | ${mib(c.limitBytes)} MiB |`,
    `| peak usage (memory.max_usage_in_bytes) | **${mib(c.maxUsageBytes)} MiB** (${Math.round((100 * c.maxUsageBytes) / c.limitBytes)} % of the limit) |`,
    `| peak anonymous memory (memory.stat total_rss, sampled every 50 ms) | ${mib(c.peakRssBytes)} MiB |`,
    `| peak page cache (total_cache, reclaimable) | ${mib(c.peakCacheBytes)} MiB |`,
    `| peak kernel memory (memory.kmem.max_usage_in_bytes: socket buffers…, part of the usage) | ${mib(c.kmemMaxUsageBytes)} MiB |`,
    `| V8 heap used, peak (nodejs_heap_size_used_bytes, every 200 ms) | ${r.service.peakHeapUsedMiB} MiB |`,
    `| off-heap Buffers, peak (nodejs_external_memory_bytes, every 200 ms) | ${r.service.peakExternalMiB} MiB |`,
    `| memory.failcnt (usage reached the limit) | ${c.failcnt} |`,
    `| memory.oom_control under_oom / oom_kill | ${c.underOom} / **${c.oomKill}** |`,
    `| the service survived | **${r.survived ? 'yes' : `no (${r.exit})`}** |`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const appMain = path.join(ROOT, 'app', 'dist', 'server.js');
  if (!fs.existsSync(appMain)) throw new Error('app/dist is missing: run `make build` (make bench-memory does)');
  const limits = stackLimits();
  const limit = arg('--limit') ?? limits.prod;
  if (limits.staging !== limits.prod) log(`staging (${limits.staging}) and prod (${limits.prod}) differ: measuring ${limit}`);
  const began = performance.now();
  const load1AtStart = os.loadavg()[0]!;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'event-bench-memory-'));
  fs.chmodSync(work, 0o755);
  const logDir = path.join(work, 'logs');
  fs.mkdirSync(logDir);
  const stops: Array<() => Promise<void>> = [];
  const cgroup = MemoryCgroup.create(quantityBytes(limit));
  let report: MemoryReport | undefined;
  try {
    const { pg, redis } = await startBenchStores(work, 'memory', stops);
    const options = arg('--node-options') ?? nodeOptions(limit);
    log(`service in ${cgroup.dir}: limit ${limit}, NODE_OPTIONS=${options}`);
    const svc = await startBenchService({
      name: 'event-service',
      main: appMain,
      databaseUrl: pg.url,
      redisUrl: redis.url,
      adminToken: randomBytes(32).toString('hex'),
      logDir,
      launcher: cgroup.launcher(),
      env: {
        NODE_OPTIONS: options,
        INGEST_BODIES_MAX: String(BODIES_MAX),
        INGEST_BODIES_PER_SENSOR: String(defaultOf('INGEST_BODIES_PER_SENSOR')),
        DB_STATEMENT_TIMEOUT_MS: '120000',
      },
    });
    stops.push(() => svc.proc.stop(15000));
    const sampler = startSampler(cgroup, svc.url);
    let sensors = { count: SENSORS, ok: 0, errors: 0, missing: 0 };
    let worst: Awaited<ReturnType<typeof worstCase>> | undefined;
    let failure: string | undefined;
    try {
      const pass = await manySensorsPass(svc, pg.url);
      const stored = await query<{ n: string }>(pg.url, "SELECT count(*) AS n FROM events WHERE type <> 'memory'");
      sensors = { count: SENSORS, ok: pass.ok, errors: pass.errors, missing: pass.ok - Number(stored[0]!.n) };
      if (!exited(svc)) worst = await worstCase(svc, pg.url, pass.tokens, sampler.gauges);
    } catch (err) {
      failure = (err as Error).message;
    }
    await sleep(500);
    await sampler.stop();
    const survived = !exited(svc);
    const peaks = summarise(sampler.samples);
    const acked = worst?.acked ?? [];
    report = {
      date: new Date().toISOString(),
      durationS: Math.round((performance.now() - began) / 1000),
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, kernel: os.release() },
      load1AtStart: Math.round(load1AtStart * 100) / 100,
      load1AtEnd: Math.round(os.loadavg()[0]! * 100) / 100,
      limit,
      stackLimits: limits,
      nodeOptions: options,
      nodeOptionsFromLimit: options === nodeOptions(limit),
      settings: {
        BODY_LIMIT_BYTES: BODY_LIMIT,
        INGEST_BODIES_MAX: BODIES_MAX,
        INGEST_QUEUE_MAX_BYTES: QUEUE_MAX_BYTES,
        PAYLOAD_MAX_BYTES: PAYLOAD_MAX,
      },
      sensors,
      worstCase: {
        queueFull: worst?.queueFull ?? false,
        allBodiesHeld: worst?.allHeld ?? false,
        peakQueueMiB: peaks.peakQueueMiB,
        peakBodiesInFlight: peaks.peakBodiesInFlight,
        fillerStatuses: worst?.fillerStatuses ?? {},
        heldStatuses: worst?.heldStatuses ?? {},
        acked: acked.length,
        missing: acked.length ? await missingOf(pg.url, acked) : 0,
      },
      cgroup: { ...cgroup.totals(), peakRssBytes: peaks.peakRssBytes, peakCacheBytes: peaks.peakCacheBytes },
      service: { peakHeapUsedMiB: peaks.peakHeapUsedMiB, peakExternalMiB: peaks.peakExternalMiB },
      survived,
      ...(survived ? {} : { exit: `${svc.proc.child.signalCode ?? `exit code ${svc.proc.child.exitCode}`}` }),
    };
    if (failure) log(`the run stopped early: ${failure}`);
    fs.mkdirSync(OUT, { recursive: true });
    fs.writeFileSync(path.join(OUT, 'memory.json'), `${JSON.stringify({ ...report, samples: sampler.samples.length }, null, 2)}\n`);
    const markdown = render(report);
    fs.writeFileSync(path.join(OUT, 'memory.md'), markdown);
    console.log(`\n${markdown}`);
    const problems = [
      ...(report.survived ? [] : [`the service did not survive (${report.exit})`]),
      ...(report.cgroup.oomKill ? [`${report.cgroup.oomKill} OOM kill(s) in the cgroup`] : []),
      ...(report.sensors.missing || report.worstCase.missing ? ['acknowledged events missing'] : []),
      ...(report.worstCase.queueFull && report.worstCase.allBodiesHeld
        ? []
        : ['the worst case was not reached (queue not full or bodies not all held)']),
      ...(failure ? [failure] : []),
    ];
    for (const p of problems) console.error(`bench-memory: FAILED: ${p}`);
    if (problems.length) process.exitCode = 1;
  } finally {
    for (const stop of stops.splice(0).reverse()) await stop().catch((err: Error) => console.error(`bench-memory: ${err.message}`));
    cgroup.remove();
    if (!process.exitCode) fs.rmSync(work, { recursive: true, force: true });
    else log(`logs kept in ${logDir}`);
  }
}

main().catch((err: Error) => {
  console.error(`bench-memory: ${err.message}`);
  process.exit(2);
});
