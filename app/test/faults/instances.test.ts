/**
 * Two service instances against one PostgreSQL and one Redis, as production runs several replicas:
 * the rate limit holds across both, a batch retried on the other instance is deduplicated, a revoked
 * token stops working on the other instance within SENSOR_CACHE_TTL_MS, and SIGTERM on one while
 * both take load loses nothing.
 */
import { randomUUID } from 'node:crypto';
import { LoadDriver } from '../../../tools/load/driver';
import { sleep } from '../../../tools/stack/process';
import { ChildService, FaultStack } from './child-service';
import { writeResult } from './results';

jest.setTimeout(90000);

const LIMIT = 100;
const BLOCK = 5;
const CACHE_TTL_MS = 1000;
const ENV = {
  RATE_LIMIT_EVENTS: String(LIMIT),
  RATE_LIMIT_BLOCK: String(BLOCK),
  SENSOR_CACHE_TTL_MS: String(CACHE_TTL_MS),
  SHUTDOWN_GRACE_MS: '5000',
  REDIS_COMMAND_TIMEOUT_MS: '2000',
};

let stack: FaultStack;
let a: ChildService;
let b: ChildService;
beforeAll(async () => {
  stack = await FaultStack.start('instances');
  [a, b] = await Promise.all([ChildService.start(stack, ENV), ChildService.start(stack, ENV)]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await stack?.stop();
});

async function post(svc: ChildService, token: string, body: unknown) {
  const res = await fetch(`${svc.url}/api/v1/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe('two instances', () => {
  it(`when one sensor sends to both instances, then together they admit at most ${LIMIT} units per window and at most (instances - 1) x RATE_LIMIT_BLOCK fewer`, async () => {
    const sensor = await a.createSensor();
    const statuses: number[] = [];
    for (let i = 0; i < 160; i++) statuses.push((await post(i % 2 ? b : a, sensor.token, { type: 't', payload: { i } })).status);
    const accepted = statuses.filter((s) => s === 202).length;
    writeResult('instances-rate-limit', { instances: 2, limit: LIMIT, block: BLOCK, sent: statuses.length, accepted });
    expect(statuses.filter((s) => s !== 202 && s !== 429)).toEqual([]);
    expect(accepted).toBeLessThanOrEqual(LIMIT);
    expect(accepted).toBeGreaterThanOrEqual(LIMIT - (2 - 1) * BLOCK);
    expect((await stack.storedCounts(sensor.sensorId)).size).toBe(accepted);
  });

  it('when a batch acknowledged by one instance is retried on the other, then it is counted as duplicates and stored once, with or without ts', async () => {
    const sensor = await a.createSensor();
    const events = [
      { id: randomUUID(), type: 't', ts: new Date().toISOString(), payload: { with: 'ts' } },
      { id: randomUUID(), type: 't', payload: { without: 'ts' } }, // its time is the receive time: differs on the retry
    ];
    expect(await post(a, sensor.token, { events })).toMatchObject({ status: 202, body: { accepted: 2, duplicates: 0 } });
    expect(await post(b, sensor.token, { events })).toMatchObject({ status: 202, body: { accepted: 0, duplicates: 2 } });
    const stored = await stack.storedCounts(sensor.sensorId);
    expect(Object.fromEntries(stored)).toEqual({ [events[0]!.id]: 1, [events[1]!.id]: 1 });
  });

  it('when a sensor is revoked through one instance, then the other refuses its token within SENSOR_CACHE_TTL_MS', async () => {
    const sensor = await a.createSensor();
    expect((await post(b, sensor.token, { type: 't', payload: {} })).status).toBe(202); // cached on b now
    const res = await fetch(`${a.url}/api/v1/sensors/${sensor.sensorId}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${stack.adminToken}` },
    });
    expect(res.status).toBe(204);
    const revokedAt = Date.now();
    expect((await post(a, sensor.token, { type: 't', payload: {} })).status).toBe(403); // at once where it was revoked
    let refusedAfterMs: number | undefined;
    while (Date.now() - revokedAt < CACHE_TTL_MS + 2000) {
      if ((await post(b, sensor.token, { type: 't', payload: {} })).status === 403) {
        refusedAfterMs = Date.now() - revokedAt;
        break;
      }
      await sleep(50);
    }
    writeResult('instances-revocation', { cacheTtlMs: CACHE_TTL_MS, refusedOnOtherInstanceAfterMs: refusedAfterMs });
    expect(refusedAfterMs).toBeDefined();
    expect(refusedAfterMs!).toBeLessThanOrEqual(CACHE_TTL_MS + 250); // the TTL, plus one polling step and scheduling
  });
});

describe('two instances, one shutting down', () => {
  it('when one instance gets SIGTERM while both take load, then every batch is acknowledged (retries go to the other) and stored exactly once', async () => {
    const sensor = await a.createSensor();
    // 10 batches a second for 4 s per driver, one sensor each: within the limit (100 units a minute), retries included.
    const load = { eventsPerSecond: 10, batchSize: 1, maxBatches: 40, retryDelayMs: 200, requestTimeoutMs: 20000 };
    const other = await b.createSensor();
    const toA = new LoadDriver({ url: a.url, otherUrls: [b.url], token: sensor.token, ...load });
    const toB = new LoadDriver({ url: b.url, otherUrls: [a.url], token: other.token, ...load });
    try {
      toA.start();
      toB.start();
      await sleep(1000);
      const termAt = Date.now();
      const exit = await a.kill('SIGTERM');
      await sleep(2000); // the load goes on: first attempts to a are refused, their retries go to b
      await Promise.all([toA.settle(20000), toB.settle(20000)]);
      const stored = new Map([...(await stack.storedCounts(sensor.sensorId)), ...(await stack.storedCounts(other.sensorId))]);
      const sent = [...toA.sentIds(), ...toB.sentIds()];
      const acked = [...toA.acknowledgedIds(), ...toB.acknowledgedIds()];
      const duplicates = [...stored.values()].reduce((n, c) => n + c - 1, 0);
      writeResult('instances-sigterm', {
        exitCode: exit.code,
        exitMs: exit.at - termAt,
        sent: sent.length,
        acknowledged: acked.length,
        stored: stored.size,
        lost: acked.filter((id) => !stored.has(id)).length,
        duplicates,
        retriedBatches: toA.summary().retriedBatches + toB.summary().retriedBatches,
      });
      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(acked.length).toBe(sent.length);
      expect(acked.filter((id) => !stored.has(id))).toEqual([]);
      expect(duplicates).toBe(0);
      expect(stored.size).toBe(sent.length);
      expect(toA.summary().retriedBatches).toBeGreaterThan(0); // the SIGTERM did send retries to b
    } finally {
      await Promise.all([toA.stop(), toB.stop()]);
      await a.start();
    }
  });
});
