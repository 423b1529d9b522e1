/**
 * Fault tests: the service runs as a child process under steady load, and a fault hits it mid-load.
 * The load driver re-sends every batch that got no 202 (same ids) until it is acknowledged; at the
 * end every acknowledged event must be stored exactly once. Each test records its figures in
 * out/faults/<fault>.json for the figures table of docs/reliability.md.
 */
import { Client } from 'pg';
import { LoadDriver } from '../../../tools/load/driver';
import { sleep, waitFor } from '../../../tools/stack/process';
import { ChildService, FaultStack } from './child-service';
import { FaultFigures, writeResult } from './results';

jest.setTimeout(90000);

/** Short timeouts, so that "no request hangs past the configured timeout" is checked in seconds. */
const TIMEOUTS = {
  DB_CONNECT_TIMEOUT_MS: 1000,
  DB_STATEMENT_TIMEOUT_MS: 2000,
  READY_CHECK_TIMEOUT_MS: 500,
  READY_PROBE_INTERVAL_MS: 250,
  SHUTDOWN_GRACE_MS: 5000,
};
/** pg's client-side query timeout is the statement timeout + 1 s (app/src/db/pool.ts); the rest is scheduling slack on a busy box. */
const REQUEST_BOUND_MS = TIMEOUTS.DB_CONNECT_TIMEOUT_MS + TIMEOUTS.DB_STATEMENT_TIMEOUT_MS + 1000 + 1500;

const CHILD_ENV = {
  ...Object.fromEntries(Object.entries(TIMEOUTS).map(([k, v]) => [k, String(v)])),
  SENSOR_CACHE_TTL_MS: '600000',
  // The driver's retries arrive in bursts from one sensor: lift its limits, these tests are about faults.
  RATE_LIMIT_EVENTS: '1000000',
  // Small blocks (the default is 1 % of the limit: 10,000 here), so the load keeps reserving from Redis
  // and a Redis outage reaches the limiter's in-process fallback.
  RATE_LIMIT_BLOCK: '50',
  INGEST_BODIES_PER_SENSOR: '1000',
};
/** 150 events/s in batches of 15: correctness, not speed. */
const LOAD = { eventsPerSecond: 150, batchSize: 15, maxBatches: 200, retryDelayMs: 250, requestTimeoutMs: 20000 };

let stack: FaultStack;
beforeAll(async () => {
  stack = await FaultStack.start('load');
});
afterAll(async () => {
  await stack?.stop();
});

/** Compares what the driver saw acknowledged with the rows in PostgreSQL. */
async function verify(driver: LoadDriver, sensorId: string) {
  const stored = await stack.storedCounts(sensorId);
  const sent = new Set(driver.sentIds());
  const acked = driver.acknowledgedIds();
  const lost = acked.filter((id) => !stored.has(id));
  let duplicates = 0;
  for (const n of stored.values()) duplicates += n - 1;
  const unexpected = [...stored.keys()].filter((id) => !sent.has(id));
  const retriedIds = driver.batches.filter((b) => b.attempts.length > 1).flatMap((b) => b.ids);
  const retriedStoredTwice = retriedIds.filter((id) => (stored.get(id) ?? 0) > 1);
  return { stored: stored.size, lost, duplicates, unexpected, retriedStoredTwice };
}

function statusesOf(attempts: Array<{ status?: number; error?: string }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of attempts) {
    const key = a.status === undefined ? `no answer (${a.error})` : String(a.status);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

function figures(
  fault: string,
  driver: LoadDriver,
  v: Awaited<ReturnType<typeof verify>>,
  window: [number, number],
  extra: object = {},
): FaultFigures {
  const s = driver.summary();
  const during = driver.attemptsDuring(...window);
  return {
    fault,
    sent: s.sent,
    acknowledged: s.acknowledged,
    stored: v.stored,
    lost: v.lost.length,
    duplicates: v.duplicates,
    longestRequestMsDuringFault: during.reduce((m, a) => Math.max(m, a.endedAt - a.startedAt), 0),
    requests: s.requests,
    retriedBatches: s.retriedBatches,
    statusesDuringFault: statusesOf(during),
    faultMs: window[1] - window[0],
    ...extra,
  };
}

function expectNothingLost(driver: LoadDriver, v: Awaited<ReturnType<typeof verify>>): void {
  const s = driver.summary();
  expect(s.unacknowledged).toBe(0); // every batch was eventually acknowledged…
  expect(s.acknowledged).toBe(s.sent);
  expect(v.lost).toEqual([]); // …and every acknowledged event is stored…
  expect(v.duplicates).toBe(0); // …exactly once,
  expect(v.retriedStoredTwice).toEqual([]); // retries included,
  expect(v.unexpected).toEqual([]); // and nothing else is stored.
  expect(v.stored).toBe(s.sent);
}

/** Starts the service as a child with a sensor and a load driver running against it; always stops both. */
async function underLoad(
  test: (svc: ChildService, sensor: { sensorId: string; token: string }, driver: LoadDriver) => Promise<void>,
): Promise<void> {
  const svc = await ChildService.start(stack, CHILD_ENV);
  const sensor = await svc.createSensor();
  const driver = new LoadDriver({ url: svc.url, token: sensor.token, ...LOAD });
  try {
    driver.start();
    await test(svc, sensor, driver);
  } finally {
    await driver.stop();
    await svc.stop();
  }
}

describe('fault: kill -9 mid-load', () => {
  it('when the process is killed with SIGKILL and restarted, then every acknowledged event is stored exactly once', async () => {
    await underLoad(async (svc, sensor, driver) => {
      await sleep(1500);
      const killedAt = Date.now();
      const exit = await svc.kill('SIGKILL');
      expect(exit.signal).toBe('SIGKILL');
      await sleep(300);
      await svc.start(); // same port, same database: clients only see refused connections meanwhile
      const restartedAt = Date.now();
      await sleep(1000);
      await driver.settle(20000);

      const v = await verify(driver, sensor.sensorId);
      const f = figures('kill -9, then restart', driver, v, [killedAt, restartedAt]);
      writeResult('kill9', f);
      expect(f.retriedBatches).toBeGreaterThan(0); // the kill did interrupt the load
      expectNothingLost(driver, v);
    });
  });
});

describe('fault: PostgreSQL outage', () => {
  it('when PostgreSQL stops for seconds, then requests get 503 + Retry-After in bounded time, /readyz is 503, and it recovers by itself without loss', async () => {
    try {
      await underLoad(async (svc, sensor, driver) => {
        await sleep(1500);
        const stoppedAt = Date.now();
        await stack.postgres.stop();
        const down = Date.now();
        // /readyz serves the probe's last result: give it one probe (interval + timeout) to notice.
        await sleep(TIMEOUTS.READY_PROBE_INTERVAL_MS + TIMEOUTS.READY_CHECK_TIMEOUT_MS);
        const readyDuringOutage: Array<{ status: number; ms: number }> = [];
        while (Date.now() - down < 4000) {
          readyDuringOutage.push(await svc.readyz());
          await sleep(250);
        }
        const restartAt = Date.now();
        await stack.postgres.start();
        const restartedAt = Date.now();
        // Recovery on its own: no restart of the service, just time.
        await waitFor('/readyz to be 200 again after PostgreSQL is back', async () => (await svc.readyz()).status === 200, 15000, 200);
        const recoveredAt = Date.now();
        await sleep(1000);
        await driver.settle(20000);

        // Requests wholly inside the outage: nothing can commit, so each must be a quick 503 with Retry-After.
        const inside = driver.attempts().filter((a) => a.startedAt >= down && a.endedAt <= restartAt);
        const overlapping = driver.attemptsDuring(stoppedAt, restartedAt);
        const v = await verify(driver, sensor.sensorId);
        const f = figures('PostgreSQL stopped for 4 s', driver, v, [stoppedAt, restartedAt], {
          readyzDuringFault: statusesOf(readyDuringOutage),
          recoveryMs: recoveredAt - restartedAt,
          requestBoundMs: REQUEST_BOUND_MS,
        });
        writeResult('postgres', f);

        expect(inside.length).toBeGreaterThan(10);
        expect(inside.map((a) => ({ status: a.status, code: a.code, retryAfter: a.retryAfter }))).toEqual(
          inside.map(() => ({ status: 503, code: 'unavailable', retryAfter: '2' })),
        );
        // Every request that met the outage got an HTTP answer (202 before, 503 during), within the configured timeouts.
        expect(overlapping.filter((a) => !(a.status === 202 || a.status === 503))).toEqual([]);
        expect(Math.max(...overlapping.map((a) => a.endedAt - a.startedAt))).toBeLessThanOrEqual(REQUEST_BOUND_MS);
        expect(readyDuringOutage.length).toBeGreaterThan(3);
        expect(readyDuringOutage.map((r) => r.status)).toEqual(readyDuringOutage.map(() => 503));
        expect(Math.max(...readyDuringOutage.map((r) => r.ms))).toBeLessThanOrEqual(TIMEOUTS.READY_CHECK_TIMEOUT_MS + 1500);
        expectNothingLost(driver, v);
      });
    } finally {
      if (!stack.postgres.running) await stack.postgres.start();
    }
  });
});

describe('fault: Redis outage', () => {
  it('when Redis stops mid-load, then ingest keeps answering 202, /readyz stays 200 "degraded", redis_up is 0, and it reconnects after', async () => {
    let redisDown = false;
    try {
      await underLoad(async (svc, sensor, driver) => {
        await sleep(1000);
        const stoppedAt = Date.now();
        redisDown = true;
        await stack.redis.stop();
        await sleep(1500); // longer than a probe (interval + timeout)
        const ready = await svc.readyz();
        const metrics = await svc.metrics();
        await sleep(1500);
        const restartAt = Date.now();
        await stack.redis.start();
        redisDown = false;
        await waitFor('redis_up to be 1 again', async () => /^redis_up 1$/m.test(await svc.metrics()), 15000, 250);
        const reconnectedAt = Date.now();
        await driver.settle(20000);

        const during = driver.attemptsDuring(stoppedAt, restartAt);
        const v = await verify(driver, sensor.sensorId);
        const f = figures('Redis stopped for 3 s', driver, v, [stoppedAt, restartAt], {
          readyzDuringFault: `${ready.status} ${ready.body.status}`,
          reconnectMs: reconnectedAt - restartAt,
        });
        writeResult('redis', f);

        expect(during.length).toBeGreaterThan(10);
        expect(during.map((a) => a.status)).toEqual(during.map(() => 202));
        expect(ready).toMatchObject({ status: 200, body: { status: 'degraded', checks: { postgres: 'ok', redis: 'failing' } } });
        expect(metrics).toMatch(/^redis_up 0$/m);
        expect(metrics).toMatch(/^rate_limit_fallback_total [1-9]\d*$/m);
        expect(f.retriedBatches).toBe(0);
        expectNothingLost(driver, v);
      });
    } finally {
      if (redisDown) await stack.redis.start(); // a second start would find the port taken by the first
    }
  });
});

describe('fault: SIGTERM under load', () => {
  it('when SIGTERM arrives with requests in flight, then they complete with 202, the queue is flushed, and the process exits 0 within the grace period', async () => {
    const locker = new Client({ connectionString: stack.postgres.url });
    await locker.connect();
    try {
      await underLoad(async (svc, sensor, driver) => {
        await sleep(1500);
        // Hold every flush for a moment, so that requests are really in flight (queued, uncommitted) at SIGTERM.
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE event_ids IN ACCESS EXCLUSIVE MODE');
        await sleep(500);
        const termAt = Date.now();
        const exited = svc.kill('SIGTERM');
        await sleep(500); // shorter than the statement timeout: the held flushes must still commit
        await locker.query('COMMIT');
        const exit = await exited;
        const exitMs = exit.at - termAt;
        await svc.start();
        const restartedAt = Date.now();
        await sleep(1000);
        await driver.settle(20000);

        // Requests sent well before SIGTERM and not yet answered: the server certainly had them.
        const inFlight = driver.attempts().filter((a) => a.startedAt <= termAt - 150 && a.endedAt >= termAt);
        const v = await verify(driver, sensor.sensorId);
        const f = figures('SIGTERM under load', driver, v, [termAt, restartedAt], {
          exitCode: exit.code,
          exitMs,
          graceMs: TIMEOUTS.SHUTDOWN_GRACE_MS,
          inFlightAtSigterm: inFlight.length,
          inFlightAnswered202: inFlight.filter((a) => a.status === 202).length,
        });
        writeResult('sigterm', f);

        expect(exit).toMatchObject({ code: 0, signal: null });
        expect(exitMs).toBeLessThan(TIMEOUTS.SHUTDOWN_GRACE_MS);
        expect(inFlight.length).toBeGreaterThan(0);
        expect(inFlight.map((a) => a.status)).toEqual(inFlight.map(() => 202));
        expect(svc.log()).toMatch(/"clean":true,"msg":"shutdown complete"/);
        expectNothingLost(driver, v);
      });
    } finally {
      await locker.end().catch(() => undefined);
    }
  });
});
