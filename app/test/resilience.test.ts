import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { runMigrations } from '../src/db/migrate';
import { freePort, waitFor } from '../../tools/stack/process';
import { PostgresServer, RedisServer } from '../../tools/stack/services';
import { createSensor, freshDatabase, getJson, postEvents, startTestService } from './helpers';

const ev = (n = 1) => ({ events: Array.from({ length: n }, () => ({ type: 't', payload: { v: 1 } })) });
const stackDir = (name: string) => fs.mkdtempSync(path.join(process.env.TEST_STACK_DIR as string, `${name}-`));

describe('rate limiting', () => {
  it('when a sensor goes over its limit, then 429 with Retry-After and RateLimit headers', async () => {
    // A generous Redis timeout: on a busy machine a slow command would switch to the in-process
    // limiter, whose separate budget this test is not about.
    const svc = await startTestService({ RATE_LIMIT_EVENTS: '5', RATE_LIMIT_WINDOW_S: '60', REDIS_COMMAND_TIMEOUT_MS: '5000' });
    try {
      const s = await createSensor(svc.url);
      const first = await postEvents(svc.url, s.token, ev(3));
      expect(first.status).toBe(202);
      expect(first.headers.get('ratelimit-limit')).toBe('5');
      expect(first.headers.get('ratelimit-remaining')).toBe('2');
      expect((await postEvents(svc.url, s.token, ev(2))).status).toBe(202);
      const limited = await postEvents(svc.url, s.token, ev(1));
      expect(limited).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } });
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // Another sensor has its own budget.
      expect((await postEvents(svc.url, (await createSensor(svc.url)).token, ev(1))).status).toBe(202);
      expect(await (await fetch(`${svc.url}/metrics`)).text()).toMatch(/^rate_limit_fallback_total 0$/m);
    } finally {
      await svc.shutdown();
    }
  });

  it('when Redis stops mid-test, then ingest still answers 202, limits apply in-process, and readiness says degraded', async () => {
    const redis = new RedisServer({ dir: stackDir('redis'), port: await freePort() });
    await redis.start();
    const svc = await startTestService({ REDIS_URL: redis.url, RATE_LIMIT_EVENTS: '20', READY_PROBE_INTERVAL_MS: '200' });
    try {
      const s = await createSensor(svc.url);
      expect((await postEvents(svc.url, s.token, ev(2))).status).toBe(202);
      await redis.stop();
      for (let i = 0; i < 3; i++) expect((await postEvents(svc.url, s.token, ev(5))).status).toBe(202);
      expect((await postEvents(svc.url, s.token, ev(6))).status).toBe(429); // 21 > 20 in-process
      const metrics = await (await fetch(`${svc.url}/metrics`)).text();
      expect(metrics).toMatch(/^redis_up 0$/m);
      expect(metrics).toMatch(/^rate_limit_fallback_total [1-9]\d*$/m);
      // Readiness is probed every READY_PROBE_INTERVAL_MS: it follows within that time.
      await waitFor('/readyz to say degraded', async () => (await getJson(`${svc.url}/readyz`)).body.status === 'degraded', 5000, 100);
      const ready = await getJson(`${svc.url}/readyz`);
      expect(ready).toMatchObject({ status: 200, body: { status: 'degraded', checks: { redis: 'failing', postgres: 'ok' } } });
      expect(svc.logText()).toContain('limiting in-process');
    } finally {
      await svc.shutdown();
      await redis.stop();
    }
  });
});

describe('backpressure', () => {
  it('when the ingest queue is full, then new requests get 503 queue_full at once, and queued ones still commit', async () => {
    const db = await freshDatabase();
    const svc = await startTestService({
      DATABASE_URL: db,
      INGEST_QUEUE_MAX_ROWS: '10',
      MAX_EVENTS_PER_REQUEST: '10',
      INGEST_FLUSH_ROWS: '5',
    });
    const locker = new Client({ connectionString: db });
    await locker.connect();
    try {
      const s = await createSensor(svc.url);
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE'); // every flush now waits
      const first = postEvents(svc.url, s.token, ev(8));
      await new Promise((r) => setTimeout(r, 200));
      const refused = await postEvents(svc.url, s.token, ev(5));
      expect(refused).toMatchObject({ status: 503, body: { error: { code: 'queue_full' } } });
      expect(refused.headers.get('retry-after')).toBe('1');
      await locker.query('COMMIT');
      expect(await first).toMatchObject({ status: 202, body: { accepted: 8 } });
      expect(await (await fetch(`${svc.url}/metrics`)).text()).toMatch(/^events_rejected_total\{reason="backpressure"\} 5$/m);
    } finally {
      await locker.end();
      await svc.shutdown();
    }
  });
});

describe('PostgreSQL outage', () => {
  it('when PostgreSQL is down, then ingest gets 503 with Retry-After and /readyz 503; after it returns, ingest recovers', async () => {
    const pg = new PostgresServer({ dir: stackDir('pg'), port: await freePort(), fast: true });
    await pg.start();
    await runMigrations(pg.url, { quiet: true });
    const svc = await startTestService({
      DATABASE_URL: pg.url,
      DB_CONNECT_TIMEOUT_MS: '1000',
      SENSOR_CACHE_TTL_MS: '60000',
      READY_PROBE_INTERVAL_MS: '200',
    });
    try {
      const s = await createSensor(svc.url);
      expect((await postEvents(svc.url, s.token, ev(1))).status).toBe(202);
      await pg.stop();
      const down = await postEvents(svc.url, s.token, ev(1));
      expect(down).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
      // A lost connection or a client-side timeout may come after COMMIT: the answer must not promise nothing was stored.
      expect(down.body.error.message).not.toMatch(/nothing was stored/);
      expect(down.body.error.message).toMatch(/same ids/);
      expect(down.headers.get('retry-after')).toBe('2');
      await waitFor('/readyz to be 503', async () => (await getJson(`${svc.url}/readyz`)).status === 503, 5000, 100);
      const ready = await getJson(`${svc.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.body.failing.join(' ')).toMatch(/postgres/);
      // A cold token lookup needs the database too: 503, never 500.
      const other = await fetch(`${svc.url}/api/v1/sensor`, { headers: { Authorization: `Bearer evs_${'B'.repeat(43)}` } });
      expect(other.status).toBe(503);
      await pg.start();
      expect((await postEvents(svc.url, s.token, ev(2))).status).toBe(202);
      await waitFor('/readyz to be 200 again', async () => (await getJson(`${svc.url}/readyz`)).status === 200, 5000, 100);
    } finally {
      await svc.shutdown();
      await pg.stop();
    }
  });
});
