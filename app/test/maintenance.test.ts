import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Pool } from 'pg';
import { loadSettings } from '../src/config';
import { main, runMaintenance, SETTINGS } from '../src/jobs/maintenance';
import { createLogger } from '../src/observability/logger';
import { writeResult } from './faults/results';
import { freePort, Running, sleep } from '../../tools/stack/process';
import { startPushgateway } from '../../tools/stack/services';
import { createSensor, freshDatabase, postEvents, startTestService } from './helpers';

const DAY = 86_400_000;
const day = (offset: number) => new Date(Math.floor(Date.now() / DAY) * DAY + offset * DAY).toISOString().slice(0, 10);

let db: string;
let client: Client;
let gateway: Running & { url: string };

beforeAll(async () => {
  db = await freshDatabase();
  client = new Client({ connectionString: db });
  await client.connect();
  gateway = await startPushgateway({
    dir: fs.mkdtempSync(path.join(process.env.TEST_STACK_DIR as string, 'pgw-')),
    port: await freePort(),
  });
});
afterAll(async () => {
  await client.end();
  await gateway.stop();
});

const env = (extra: Record<string, string> = {}) => ({
  DATABASE_URL: db,
  PUSHGATEWAY_URL: gateway.url,
  LOG_LEVEL: 'silent',
  PARTITIONS_AHEAD_DAYS: '25',
  RETENTION_DAYS: '3650',
  ...extra,
});

async function partitions(): Promise<string[]> {
  const { rows } = await client.query(
    `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass`,
  );
  return rows.map((r) => r.relname as string).sort();
}

async function pushed(): Promise<string> {
  return (await fetch(`${gateway.url}/metrics`)).text();
}

describe('maintenance job', () => {
  it('creates partitions ahead, drops expired ones, rolls up, and pushes its metrics', async () => {
    const svc = await startTestService({ DATABASE_URL: db });
    const [a, b] = [await createSensor(svc.url), await createSensor(svc.url)];
    const at = (offsetDays: number) => new Date(Date.now() + offsetDays * DAY - 60_000).toISOString();
    await postEvents(svc.url, a.token, { events: [1, 2, 3].map(() => ({ type: 't', ts: at(0), payload: {} })) });
    await postEvents(svc.url, a.token, { events: [{ type: 't', ts: at(-1), payload: {} }] });
    await postEvents(svc.url, b.token, { events: [{ type: 't', ts: at(0), payload: {} }] });
    await svc.shutdown();
    // An ancient partition past retention.
    await client.query(`SELECT ensure_events_partition('2000-01-01')`);

    expect(await main(env())).toBe(0);

    const parts = await partitions();
    for (let d = 0; d <= 25; d++) expect(parts).toContain(`events_${day(d).replace(/-/g, '')}`);
    expect(parts).not.toContain('events_20000101');

    const counts = await client.query('SELECT sensor_id, day::text, events::int FROM event_daily_counts ORDER BY sensor_id, day');
    const expected = [
      { sensor_id: a.sensorId, day: day(-1), events: 1 },
      { sensor_id: a.sensorId, day: day(0), events: 3 },
      { sensor_id: b.sensorId, day: day(0), events: 1 },
    ].sort((x, y) => `${x.sensor_id}${x.day}`.localeCompare(`${y.sensor_id}${y.day}`));
    expect(counts.rows).toEqual(expected);

    const metrics = await pushed();
    expect(metrics).toMatch(/^maintenance_failed\{[^}]*job="event_maintenance"[^}]*\} 0$/m);
    expect(metrics).toMatch(/^maintenance_partitions_dropped\{[^}]*job="event_maintenance"[^}]*\} 1$/m);
    expect(metrics).toMatch(/^maintenance_partitions_created\{[^}]*job="event_maintenance"[^}]*\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^maintenance_rows_rolled_up\{[^}]*job="event_maintenance"[^}]*\} 3$/m);
    expect(metrics).toMatch(/^maintenance_last_success_timestamp_seconds\{[^}]*job="event_maintenance"[^}]*\} \d/m);
    const newest = Number(/^events_partition_newest_day_timestamp_seconds\{[^}]*\} (\S+)$/m.exec(metrics)?.[1]);
    expect(new Date(newest * 1000).toISOString().slice(0, 10)).toBe(day(25));
    expect(metrics).not.toMatch(/^process_cpu_seconds_total\{[^}]*job="event_maintenance"/m);

    // A second run has nothing left to create.
    expect(await main(env())).toBe(0);
    expect(await pushed()).toMatch(/^maintenance_partitions_created\{[^}]*job="event_maintenance"[^}]*\} 0$/m);
  });
});

describe('maintenance job beside a long reader', () => {
  it('when a long reader holds `events` while the job creates and drops partitions, then ingest keeps answering 202 and the job still finishes', async () => {
    const svc = await startTestService({ DATABASE_URL: db, DB_STATEMENT_TIMEOUT_MS: '2000', DB_CONNECT_TIMEOUT_MS: '1000' });
    const reader = new Client({ connectionString: db });
    try {
      const sensor = await createSensor(svc.url);
      expect((await postEvents(svc.url, sensor.token, { type: 't', payload: {} })).status).toBe(202);
      await client.query(`SELECT ensure_events_partition('2001-01-01')`); // past retention: to be detached and dropped
      // A backup or an analytics query: a transaction holding ACCESS SHARE on `events` and every partition.
      await reader.connect();
      await reader.query('BEGIN');
      await reader.query('SELECT * FROM events LIMIT 1');

      const jobStart = Date.now();
      const job = main(env({ PARTITIONS_AHEAD_DAYS: '40' })); // days 26…40 are new: partitions to attach
      const answers: Array<{ status: number; ms: number }> = [];
      const until = Date.now() + 4000;
      while (Date.now() < until) {
        const t = Date.now();
        const res = await postEvents(svc.url, sensor.token, { type: 't', payload: { during: 'maintenance' } });
        answers.push({ status: res.status, ms: Date.now() - t });
        await sleep(100);
      }
      await reader.query('COMMIT');
      expect(await job).toBe(0);
      writeResult('maintenance', {
        readerHeldMs: until - jobStart,
        jobMs: Date.now() - jobStart,
        requests: answers.length,
        statuses: [...new Set(answers.map((a) => a.status))],
        longestRequestMs: Math.max(...answers.map((a) => a.ms)),
      });

      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 202));
      // The reader holds its lock for 4 s and the service's statement timeout is 2 s: a flush queued behind
      // a lock would have answered 503, so every answer being 202 says none was.
      expect(answers.length).toBeGreaterThanOrEqual(10);
      const parts = await partitions();
      expect(parts).toContain(`events_${day(40).replace(/-/g, '')}`);
      expect(parts).not.toContain('events_20010101');
      expect((await client.query(`SELECT to_regclass('events_20010101') AS t`)).rows[0].t).toBeNull();
    } finally {
      await reader.end().catch(() => undefined);
      await svc.shutdown();
    }
  });
});

describe('maintenance job failures and bad configuration', () => {
  it('when the run fails, then it exits 1, pushes the failure, and keeps the last success time', async () => {
    const before = /^maintenance_last_success_timestamp_seconds\{[^}]*\} (\S+)$/m.exec(await pushed())?.[1];
    expect(before).toBeDefined();
    expect(await main(env({ DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/none` }))).toBe(1);
    const after = await pushed();
    expect(after).toMatch(/^maintenance_failed\{[^}]*job="event_maintenance"[^}]*\} 1$/m);
    expect(/^maintenance_last_success_timestamp_seconds\{[^}]*\} (\S+)$/m.exec(after)?.[1]).toBe(before);
  });

  it('when the Pushgateway is unreachable, then the job still succeeds', async () => {
    expect(await main(env({ PUSHGATEWAY_URL: `http://127.0.0.1:${await freePort()}` }))).toBe(0);
  });

  it('when DEDUPE_WINDOW_DAYS does not cover EVENT_MAX_AGE_S, then it exits 2 naming both and forgets no dedupe id', async () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const ids = async () => Number((await client.query('SELECT count(*) AS n FROM event_ids')).rows[0].n);
    const before = await ids();
    expect(await main(env({ DEDUPE_WINDOW_DAYS: '7', EVENT_MAX_AGE_S: '604800' }))).toBe(2);
    expect(spy).toHaveBeenCalledWith(
      expect.stringMatching(/^config error: DEDUPE_WINDOW_DAYS: must cover more than EVENT_MAX_AGE_S \(604800 s\)/),
    );
    expect(await ids()).toBe(before);
    spy.mockRestore();
  });

  it('when its configuration is bad, then it exits 2', async () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    expect(await main({ DATABASE_URL: 'mysql://nope' })).toBe(2);
    expect(spy).toHaveBeenCalledWith(expect.stringMatching(/^config error: DATABASE_URL: /));
    spy.mockRestore();
  });
});

describe('maintenance job and the dedupe window', () => {
  it('when event ids are forgotten after DEDUPE_WINDOW_DAYS, then a retry of an event sent with ts is still caught and one timed by its receive time is stored again (the documented guarantee)', async () => {
    const svc = await startTestService({ DATABASE_URL: db });
    const pool = new Pool({ connectionString: db });
    try {
      const s = await createSensor(svc.url);
      const withTs = { id: randomUUID(), type: 't', ts: new Date(Date.now() - 60_000).toISOString(), payload: {} };
      const withoutTs = { id: randomUUID(), type: 't', payload: {} };
      expect((await postEvents(svc.url, s.token, { events: [withTs, withoutTs] })).body).toEqual({ accepted: 2, duplicates: 0 });
      // The job as it would run DEDUPE_WINDOW_DAYS (8) + 1 days later: both ids are forgotten.
      const cfg = loadSettings(SETTINGS, env());
      const result = await runMaintenance(pool, cfg, createLogger('silent'), Date.now() + 9 * DAY);
      expect(result.dedupeIdsForgotten).toBeGreaterThanOrEqual(2);
      expect((await postEvents(svc.url, s.token, { events: [withTs, withoutTs] })).body).toEqual({ accepted: 1, duplicates: 1 });
      const { rows } = await client.query('SELECT event_id, count(*)::int AS n FROM events WHERE sensor_id = $1 GROUP BY 1', [s.sensorId]);
      expect(Object.fromEntries(rows.map((r) => [r.event_id, r.n]))).toEqual({ [withTs.id]: 1, [withoutTs.id]: 2 });
    } finally {
      await pool.end();
      await svc.shutdown();
    }
  });
});
