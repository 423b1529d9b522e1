/**
 * The group-commit policy, against the real PostgreSQL: a flush starts as soon as a flush slot is free
 * (no fixed wait), and a flush that finishes takes everything queued meanwhile.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { Registry } from 'prom-client';
import { loadConfig } from '../src/config';
import { storeEvents } from '../src/db/events-repo';
import { Batcher, batcherOptions } from '../src/ingest/batcher';
import { createIngestMetrics } from '../src/ingest/metrics';
import type { EventRow } from '../src/ingest/validate';
import { createLogger } from '../src/observability/logger';
import { testEnv } from './helpers';

let pool: Pool;
beforeAll(() => {
  pool = new Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 4 });
});
afterAll(() => pool.end());

const row = (sensorId: string): EventRow => {
  const now = Date.now();
  return { sensorId, eventId: randomUUID(), clientId: true, type: 'temperature', ts: now, receivedAt: now, payload: '{"celsius":20}' };
};

/** A batcher with the default settings (or `overrides`) whose flushes are recorded as their row counts. */
function batcherWith(overrides: Record<string, string> = {}) {
  const flushes: number[] = [];
  const registry = new Registry();
  const batcher = new Batcher(
    batcherOptions(loadConfig(testEnv(overrides))),
    (rows) => {
      flushes.push(rows.length);
      return storeEvents(pool, rows);
    },
    createIngestMetrics(registry, 10),
    createLogger('silent'),
  );
  return { batcher, flushes, registry };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('group commit', () => {
  it('when a flush slot is free, then queued events are flushed on the next turn of the event loop, without a timer', async () => {
    const { batcher, flushes } = batcherWith();
    const sensor = randomUUID();
    const done = Promise.all([batcher.submit([row(sensor)], 14), batcher.submit([row(sensor), row(sensor)], 28)]);
    await nextTurn();
    expect(flushes).toEqual([3]); // both requests of this turn, in one flush, already sent
    await expect(done).resolves.toEqual([
      { accepted: 1, duplicates: 0 },
      { accepted: 2, duplicates: 0 },
    ]);
  });

  it('when every flush slot is busy, then the next flush takes every request queued meanwhile', async () => {
    const { batcher, flushes } = batcherWith({ INGEST_MAX_CONCURRENT_FLUSHES: '1' });
    const sensor = randomUUID();
    const first = batcher.submit([row(sensor)], 14);
    await nextTurn();
    const later = [1, 2, 3].map(() => batcher.submit([row(sensor)], 14));
    await Promise.all([first, ...later]);
    expect(flushes).toEqual([1, 3]);
  });
});

describe('one flush, several requests', () => {
  it('when two requests in one flush carry the same event, then it is stored once and only the first request counts it', async () => {
    const { batcher, flushes } = batcherWith();
    const sensor = randomUUID();
    const shared = row(sensor);
    const [first, second] = await Promise.all([
      batcher.submit([shared, row(sensor)], 28),
      batcher.submit([row(sensor), { ...shared }], 28),
    ]);
    expect(flushes).toEqual([3]);
    expect(first).toEqual({ accepted: 2, duplicates: 0 });
    expect(second).toEqual({ accepted: 1, duplicates: 1 });
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM events WHERE sensor_id = $1', [sensor]);
    expect(rows[0].n).toBe(3);
  });

  it('when a batch mixes types, then events_ingested_total counts each type exactly', async () => {
    const { batcher, registry } = batcherWith();
    const sensor = randomUUID();
    const typed = (type: string) => ({ ...row(sensor), type });
    await batcher.submit(['a', 'a', 'b', 'a', 'c', 'c'].map(typed), 84);
    const text = await registry.metrics();
    expect(text).toMatch(/^events_ingested_total\{type="a"\} 3$/m);
    expect(text).toMatch(/^events_ingested_total\{type="b"\} 1$/m);
    expect(text).toMatch(/^events_ingested_total\{type="c"\} 2$/m);
  });
});
