/**
 * `make bench-scale`: how the service's costs grow with data, on one machine in one run.
 *   - with 0, 1 M and 10 M rows already in `events` (bulk-loaded in SQL, not through the service):
 *     ingest rate (single events and 100-event batches), GET /api/v1/events latency for the first
 *     page and for a deep keyset page, and the maintenance job's duration;
 *   - peak RSS of the service while 100 k distinct sensors each send (token cache and limiter bounds);
 *   - two service instances against one PostgreSQL: aggregate throughput, and dedupe across them.
 *
 *   tsx bench/scale.ts [--sizes 0,1000000,10000000] [--seconds 8] [--sensors 100000] [--out DIR]
 *
 * PostgreSQL keeps fsync and synchronous_commit on for everything measured; only the bulk load
 * (not measured) runs with synchronous_commit off. Results: bench/results/scale.{md,json}.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { Acks, closedLoop, manySensors, readLoop, RunResult, Sequence, Target } from './load';
import { createManySensors } from './many-sensors';
import { BenchService, startBenchService, startBenchStores } from './service';
import { missingAcknowledged, query } from './storage';
import { CONNECTIONS, createWorkload, Shape } from './workload';

const ROOT = path.join(__dirname, '..');
const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const SIZES = (arg('--sizes') ?? '0,1000000,10000000').split(',').map(Number);
const SECONDS = Number(arg('--seconds') ?? 8);
const SENSORS = Number(arg('--sensors') ?? 100_000);
const OUT = path.resolve(arg('--out') ?? path.join(ROOT, 'bench/results'));
/** Rows per bulk-load statement: bounded memory and statement time. */
const LOAD_CHUNK = 1_000_000;
/** Sensors the bulk-loaded rows belong to; one of them (the reader) gets a tenth of the bulk-loaded rows. */
const LOADED_SENSORS = 1000;
const READ_CONNECTIONS = 8;

const log = (message: string) => console.log(`bench-scale: ${message}`);
const rss = (pid: number, field: 'VmHWM' | 'VmRSS') =>
  Math.round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024);

/**
 * Adds rows number `from` to `total` to `events` (and their ids to `event_ids`, as ingest would):
 * a tenth for the reader sensor, the rest spread over other sensors, times spread over the last 6 days.
 */
async function bulkLoad(url: string, readerId: string, from: number, total: number): Promise<number> {
  const start = performance.now();
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    // The load is not what is measured. Rows sorted in each index's order touch each index page once per
    // chunk instead of at random (several times faster with fsync on).
    await client.query("SET synchronous_commit = off; SET work_mem = '256MB'");
    for (let done = from; done < total; done += LOAD_CHUNK) {
      const n = Math.min(LOAD_CHUNK, total - done);
      await client.query(
        `WITH r AS MATERIALIZED (
           SELECT CASE WHEN g % 10 = 0 THEN $1::uuid
                       ELSE ('00000000-0000-4000-8000-' || lpad(to_hex(g % ${LOADED_SENSORS}), 12, '0'))::uuid END AS sensor_id,
                  gen_random_uuid() AS event_id,
                  now() - random() * interval '6 days' AS ts
           FROM generate_series($2::bigint, $3::bigint) AS g
         ), e AS (
           INSERT INTO events (sensor_id, event_id, type, ts, received_at, payload)
           SELECT sensor_id, event_id, 'temperature', ts, ts,
                  '{"celsius": 21.5, "humidity": 40, "battery": 3.1, "site": "greenhouse-7", "firmware": "2.4.1"}'::jsonb
           FROM r ORDER BY sensor_id, ts
         )
         INSERT INTO event_ids (sensor_id, event_id, received_at) SELECT sensor_id, event_id, ts FROM r ORDER BY sensor_id, event_id`,
        [readerId, done, done + n - 1],
      );
      log(`  loaded ${done + n} rows`);
    }
    await client.query('ANALYZE events; ANALYZE event_ids');
  } finally {
    await client.end();
  }
  return (performance.now() - start) / 1000;
}

interface SizeResult {
  rows: number;
  loadS: number;
  tableMb: number;
  ingest: Record<Shape, { eventsPerS: number; p99Ms: number; errors: number; missing: number }>;
  firstPage: { reqPerS: number; p50Ms: number; p99Ms: number; errors: number };
  deepPage: { reqPerS: number; p50Ms: number; p99Ms: number; errors: number; offset: number };
  maintenanceS: number;
}

async function main(): Promise<void> {
  const appMain = path.join(ROOT, 'app', 'dist', 'server.js');
  const jobMain = path.join(ROOT, 'app', 'dist', 'jobs', 'maintenance.js');
  if (!fs.existsSync(appMain)) throw new Error('app/dist is missing: run `make build` (make bench-scale does)');
  const began = performance.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'event-bench-scale-'));
  fs.chmodSync(work, 0o755);
  const logDir = path.join(work, 'logs');
  fs.mkdirSync(logDir);
  const stops: Array<() => Promise<void>> = [];
  const load1AtStart = os.loadavg()[0]!;
  try {
    const { pg, redis } = await startBenchStores(work, 'scale', stops);
    const adminToken = randomBytes(32).toString('hex');
    const start = async (name: string) => {
      const svc = await startBenchService({ name, main: appMain, databaseUrl: pg.url, redisUrl: redis.url, adminToken, logDir });
      stops.push(() => svc.proc.stop(15000));
      return svc;
    };
    const service = await start('event-service');
    const reader = await service.newSensor('reader');
    const readTarget: Target = { url: service.url, headers: { authorization: `Bearer ${reader.token}` } };
    const maintenance = async () => {
      const t = performance.now();
      await promisify(execFile)(process.execPath, [jobMain], {
        env: { ...process.env, DATABASE_URL: pg.url, PUSHGATEWAY_URL: '', LOG_LEVEL: 'warn' },
      });
      return (performance.now() - t) / 1000;
    };
    await maintenance(); // creates the partitions ahead, as in production, before anything is measured

    const sizes: SizeResult[] = [];
    const ts = new Date().toISOString();
    // Sizes count bulk-loaded rows (a tenth of them the reader's history); the ingest runs of earlier sizes
    // add theirs on top, and the table reports the actual count. Counting those towards a size would leave the
    // reader without history once ingest alone passes it.
    let bulkRows = 0;
    for (const size of SIZES) {
      const countRows = async () => Number((await query<{ n: string }>(pg.url, 'SELECT count(*) AS n FROM events'))[0]!.n);
      log(`${size} rows: bulk load of ${Math.max(0, size - bulkRows)} rows`);
      const loadS = await bulkLoad(pg.url, reader.sensorId, bulkRows, size);
      bulkRows = Math.max(bulkRows, size);
      const count = await countRows();
      const [{ mb }] = (await query<{ mb: number }>(
        pg.url,
        `SELECT round((sum(pg_total_relation_size(c.oid)) / 2^20)::numeric)::int AS mb
         FROM pg_class c WHERE c.relname LIKE 'events_%' OR c.relname = 'event_ids'`,
      )) as [{ mb: number }];
      const ingest = {} as SizeResult['ingest'];
      for (const shape of ['single', 'batch'] as const) {
        const sensor = await service.newSensor(`writer-${size}-${shape}`);
        const workload = createWorkload(shape, ts);
        const seq: Sequence = { next: 0 };
        const target: Target = { url: service.url, headers: { authorization: `Bearer ${sensor.token}` } };
        await closedLoop(target, workload, seq, new Map(), { connections: CONNECTIONS[shape], durationS: 2 }); // warm-up
        const acks: Acks = new Map();
        const r: RunResult = await closedLoop(target, workload, seq, acks, { connections: CONNECTIONS[shape], durationS: SECONDS });
        ingest[shape] = {
          eventsPerS: r.eventsPerS,
          p99Ms: r.p99Ms,
          errors: r.errors,
          missing: (await missingAcknowledged(pg.url, sensor.sensorId, workload, acks)).missing,
        };
        log(
          `  ingest ${shape}: ${Math.round(r.eventsPerS)} events/s, p99 ${r.p99Ms} ms, ${ingest[shape].missing} acknowledged events missing`,
        );
      }
      const firstPage = await readLoop(readTarget, '/api/v1/events?limit=100', { connections: READ_CONNECTIONS, durationS: SECONDS / 2 });
      // A keyset page 90 % deep into the reader's history: what a client reaches after paging back a long way.
      const [{ n: readerRows }] = (await query<{ n: string }>(pg.url, 'SELECT count(*) AS n FROM events WHERE sensor_id = $1', [
        reader.sensorId,
      ])) as [{ n: string }];
      const offset = Math.floor(Number(readerRows) * 0.9);
      const [at] = await query<{ ts: Date; event_id: string }>(
        pg.url,
        'SELECT ts, event_id FROM events WHERE sensor_id = $1 ORDER BY ts DESC, event_id DESC OFFSET $2 LIMIT 1',
        [reader.sensorId, offset],
      );
      const cursor = at ? Buffer.from(JSON.stringify([at.ts.toISOString(), at.event_id])).toString('base64url') : undefined;
      const deep = await readLoop(readTarget, `/api/v1/events?limit=100${cursor ? `&cursor=${cursor}` : ''}`, {
        connections: READ_CONNECTIONS,
        durationS: SECONDS / 2,
      });
      log(`  reads: first page p99 ${firstPage.p99Ms} ms, page at offset ${offset} p99 ${deep.p99Ms} ms`);
      const maintenanceS = await maintenance();
      log(`  maintenance job ${maintenanceS.toFixed(1)} s`);
      sizes.push({ rows: count, loadS, tableMb: mb, ingest, firstPage, deepPage: { ...deep, offset }, maintenanceS });
    }

    // Many distinct sensors: each one's first request misses the token cache and starts a rate-limit bucket.
    log(`${SENSORS} sensors (tokens derived in SQL and here), each sending single events`);
    const tokens = await createManySensors(pg.url, SENSORS);
    const pid = service.proc.child.pid!;
    const rssBefore = rss(pid, 'VmRSS');
    const many = createWorkload('single', ts);
    const manySeq: Sequence = { next: 0 };
    // Live heap (what the caches hold) next to RSS (which also holds garbage V8 has not collected yet).
    const heapUsedMb = async () =>
      Math.round(
        Number(/^nodejs_heap_size_used_bytes ([0-9.e+]+)$/m.exec(await (await fetch(`${service.url}/metrics`)).text())?.[1]) / 2 ** 20,
      );
    const passes: Array<Awaited<ReturnType<typeof manySensors>> & { rssMb: number; heapUsedMb: number }> = [];
    for (let pass = 1; pass <= 3; pass++) {
      const r = await manySensors(service.url, tokens, many, manySeq, { connections: CONNECTIONS.single, amount: SENSORS });
      passes.push({ ...r, rssMb: rss(pid, 'VmRSS'), heapUsedMb: await heapUsedMb() });
      log(
        `  pass ${pass}: ${Math.round(r.reqPerS)} req/s, ${r.errors} errors, RSS ${rss(pid, 'VmRSS')} MB, heap used ${passes[pass - 1]!.heapUsedMb} MB`,
      );
    }
    const manyResult = { sensors: SENSORS, rssBeforeMb: rssBefore, passes, peakRssMb: rss(pid, 'VmHWM') };

    // Two instances against one PostgreSQL (and one Redis).
    log('two instances: the same load split over both, then one batch sent to both at once (dedupe across instances)');
    const second = await start('event-service-2');
    const two = async (targets: BenchService[]) => {
      const connections = CONNECTIONS.single / targets.length;
      const runs = await Promise.all(
        targets.map(async (svc) => {
          const sensor = await svc.newSensor(`pair-${targets.length}`);
          return closedLoop(
            { url: svc.url, headers: { authorization: `Bearer ${sensor.token}` } },
            createWorkload('single', ts),
            { next: 0 },
            new Map(),
            {
              connections,
              durationS: SECONDS,
            },
          );
        }),
      );
      return { reqPerS: runs.reduce((s, r) => s + r.reqPerS, 0), errors: runs.reduce((s, r) => s + r.errors, 0) };
    };
    const oneInstance = await two([service]);
    const twoInstances = await two([service, second]);
    const shared = await service.newSensor('shared');
    let acceptedTwice = 0;
    const DEDUPE_ROUNDS = 20;
    for (let i = 0; i < DEDUPE_ROUNDS; i++) {
      const body = createWorkload('batch', ts).body(i);
      const answers = await Promise.all(
        [service, second].map(async (svc) => {
          const res = await fetch(`${svc.url}/api/v1/events`, {
            method: 'POST',
            headers: { authorization: `Bearer ${shared.token}`, 'content-type': 'application/json' },
            body,
          });
          return res.status === 202 ? ((await res.json()) as { accepted: number }).accepted : 0;
        }),
      );
      if (answers[0]! + answers[1]! !== 100) acceptedTwice++;
    }
    const [{ n: sharedRows }] = (await query<{ n: string }>(pg.url, 'SELECT count(*) AS n FROM events WHERE sensor_id = $1', [
      shared.sensorId,
    ])) as [{ n: string }];
    const instances = {
      one: oneInstance,
      two: twoInstances,
      dedupe: { batches: DEDUPE_ROUNDS, badAnswers: acceptedTwice, storedRows: Number(sharedRows), expectedRows: DEDUPE_ROUNDS * 100 },
    };
    log(
      `  one instance ${Math.round(oneInstance.reqPerS)} req/s, two ${Math.round(twoInstances.reqPerS)} req/s; dedupe: ${sharedRows} rows stored of ${DEDUPE_ROUNDS * 100}`,
    );

    const [{ version }] = (await query<{ version: string }>(pg.url, "SELECT current_setting('server_version') AS version")) as [
      { version: string },
    ];
    const report = {
      date: new Date().toISOString(),
      durationS: Math.round((performance.now() - began) / 1000),
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, postgres: version },
      load1AtStart: Math.round(load1AtStart * 100) / 100,
      load1AtEnd: Math.round(os.loadavg()[0]! * 100) / 100,
      seconds: SECONDS,
      sizes,
      manySensors: manyResult,
      instances,
    };
    fs.mkdirSync(OUT, { recursive: true });
    fs.writeFileSync(path.join(OUT, 'scale.json'), `${JSON.stringify(report, null, 2)}\n`);
    const markdown = renderScale(report);
    fs.writeFileSync(path.join(OUT, 'scale.md'), markdown);
    console.log(`\n${markdown}`);
    const problems = [
      ...sizes.flatMap((s) =>
        (['single', 'batch'] as const).filter((sh) => s.ingest[sh].missing).map((sh) => `${s.rows} rows, ${sh}: events missing`),
      ),
      ...(instances.dedupe.storedRows !== instances.dedupe.expectedRows ? ['dedupe across two instances failed'] : []),
    ];
    for (const p of problems) console.error(`bench-scale: FAILED: ${p}`);
    if (problems.length) process.exitCode = 1;
  } finally {
    for (const stop of stops.splice(0).reverse()) await stop().catch((err: Error) => console.error(`bench-scale: ${err.message}`));
    if (!process.exitCode) fs.rmSync(work, { recursive: true, force: true });
    else log(`logs kept in ${logDir}`);
  }
}

type ScaleReport = {
  date: string;
  durationS: number;
  machine: { cores: number; cpu: string; node: string; postgres: string };
  load1AtStart: number;
  load1AtEnd: number;
  seconds: number;
  sizes: SizeResult[];
  manySensors: {
    sensors: number;
    rssBeforeMb: number;
    passes: Array<{ reqPerS: number; errors: number; rssMb: number; heapUsedMb: number }>;
    peakRssMb: number;
  };
  instances: {
    one: { reqPerS: number; errors: number };
    two: { reqPerS: number; errors: number };
    dedupe: { batches: number; badAnswers: number; storedRows: number; expectedRows: number };
  };
};

export function renderScale(r: ScaleReport): string {
  const n = (v: number, d = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d }) : 'n/a');
  const m = r.manySensors;
  return [
    `# How cost grows with data (${r.date}, ${r.durationS} s in all)`,
    '',
    `Machine: ${r.machine.cores} cores (${r.machine.cpu}); Node ${r.machine.node}; PostgreSQL ${r.machine.postgres}, fsync and ` +
      `synchronous_commit on. Load average ${r.load1AtStart} at start, ${r.load1AtEnd} at the end (other work on the machine ` +
      `shows here: compare rows within this run). Each measurement ${r.seconds} s after a 2 s warm-up; reads at ${READ_CONNECTIONS} ` +
      `connections, 100 events per page; the deep page is a keyset cursor 90 % into the reading sensor's history (a tenth of the bulk-loaded rows; the ingest runs of earlier sizes add their rows on top).`,
    '',
    '| rows in events | bulk load s | events + event_ids MB | single events/s (p99 ms) | batched events/s (p99 ms) | first page p50 / p99 ms | deep page p50 / p99 ms | maintenance job s | missing |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...r.sizes.map(
      (s) =>
        `| ${n(s.rows)} | ${n(s.loadS, 1)} | ${n(s.tableMb)} | ${n(s.ingest.single.eventsPerS)} (${s.ingest.single.p99Ms}) | ` +
        `${n(s.ingest.batch.eventsPerS)} (${s.ingest.batch.p99Ms}) | ${s.firstPage.p50Ms} / ${s.firstPage.p99Ms} | ` +
        `${s.deepPage.p50Ms} / ${s.deepPage.p99Ms} (offset ${n(s.deepPage.offset)}) | ${n(s.maintenanceS, 1)} | ${s.ingest.single.missing + s.ingest.batch.missing} |`,
    ),
    '',
    `**${n(m.sensors)} distinct sensors**, each sending one single-event request per pass (the first pass misses the token cache for every one):`,
    '',
    '| | req/s | errors | service RSS MB | V8 heap used MB |',
    '| --- | ---: | ---: | ---: | ---: |',
    `| before | | | ${m.rssBeforeMb} | |`,
    ...m.passes.map((p, i) => `| pass ${i + 1} | ${n(p.reqPerS)} | ${p.errors} | ${p.rssMb} | ${p.heapUsedMb} |`),
    `| peak (VmHWM) | | | ${m.peakRssMb} | |`,
    '',
    '**Two instances against one PostgreSQL** (single events, 64 connections in all):',
    '',
    '| instances | req/s | errors |',
    '| ---: | ---: | ---: |',
    `| 1 | ${n(r.instances.one.reqPerS)} | ${r.instances.one.errors} |`,
    `| 2 | ${n(r.instances.two.reqPerS)} | ${r.instances.two.errors} |`,
    '',
    `Dedupe across instances: ${r.instances.dedupe.batches} batches of 100 events, each sent to both instances at once: ` +
      `${n(r.instances.dedupe.storedRows)} rows stored (${n(r.instances.dedupe.expectedRows)} expected), ` +
      `${r.instances.dedupe.badAnswers} batches whose two answers did not add up to 100 accepted.`,
    '',
  ].join('\n');
}

main().catch((err: unknown) => {
  console.error(`bench-scale: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
