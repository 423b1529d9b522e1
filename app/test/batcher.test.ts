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
  const now = new Date();
  return { sensorId, eventId: randomUUID(), type: 'temperature', ts: now, receivedAt: now, payload: '{"celsius":20}' };
};

/** A batcher with the default settings (or `overrides`) whose flushes are recorded as their row counts. */
function batcherWith(overrides: Record<string, string> = {}) {
  const flushes: number[] = [];
  const batcher = new Batcher(
    batcherOptions(loadConfig(testEnv(overrides))),
    (rows) => {
      flushes.push(rows.length);
      return storeEvents(pool, rows);
    },
    createIngestMetrics(new Registry(), 10),
    createLogger('silent'),
  );
  return { batcher, flushes };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('group commit', () => {
  it('when a flush slot is free, then queued events are flushed on the next turn of the event loop, without a timer', async () => {
    const { batcher, flushes } = batcherWith();
    const sensor = randomUUID();
    const done = Promise.all([batcher.submit([row(sensor)], 14), batcher.submit([row(sensor), row(sensor)], 28)]);
    await nextTurn();
    expect(flushes).toEqual([3]); // both requests of this turn, in one statement, already sent
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
