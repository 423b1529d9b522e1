/**
 * One classification of PostgreSQL's failures (app/src/db/pg-errors.ts), on errors the real server raises, and
 * what the client gets for each through the ingest path. The batcher used to call any error with a class-22
 * `code` a data error, the error middleware only one PostgreSQL raised (with a `severity`): for an error of the
 * first kind the flush's requests were told "400, PostgreSQL rejected an event; nothing was stored", which
 * nobody could know. Now both ask the same question.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { Registry } from 'prom-client';
import { loadConfig } from '../src/config';
import { storeEvents } from '../src/db/events-repo';
import { isConflict, isDatabaseUnavailable, isDataError, isStatementTimeout, leavesConnectionUsable } from '../src/db/pg-errors';
import { toAppError } from '../src/http/errors';
import { Batcher, batcherOptions, type StoreRows } from '../src/ingest/batcher';
import { createIngestMetrics } from '../src/ingest/metrics';
import type { EventRow } from '../src/ingest/validate';
import { createLogger } from '../src/observability/logger';
import { testEnv } from './helpers';

let pool: Pool;
beforeAll(() => {
  pool = new Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 2 });
});
afterAll(() => pool.end());

/** The error a statement fails with on the real server. */
const failureOf = (sql: string) =>
  pool.query(sql).then(
    () => undefined,
    (err: unknown) => err,
  );

const row = (sensorId: string, payload = '{"celsius":20}'): EventRow => {
  const now = Date.now();
  return { sensorId, eventId: randomUUID(), clientId: true, type: 'temperature', ts: now, receivedAt: now, payload };
};

const batcher = (store: StoreRows) =>
  new Batcher(batcherOptions(loadConfig(testEnv())), store, createIngestMetrics(new Registry(), []), createLogger('silent'));

/** What a request whose flush failed is answered, as status, code and Retry-After. */
async function answerTo(submitted: Promise<unknown>) {
  const e = toAppError(
    await submitted.then(
      () => undefined,
      (err: unknown) => err,
    ),
  );
  return { status: e.status, code: e.code, retryAfter: e.headers['Retry-After'] };
}

describe('PostgreSQL errors', () => {
  it('when PostgreSQL rejects a value, then it is a data error, the connection stays usable, and the client gets 400', async () => {
    const err = await failureOf(`SELECT 'not a number'::int`);
    expect([isDataError(err), leavesConnectionUsable(err), isDatabaseUnavailable(err)]).toEqual([true, true, false]);
    expect(toAppError(err)).toMatchObject({ status: 400, code: 'invalid_request' });
  });

  it('when a statement runs past its statement_timeout, then the database counts as unavailable (503), not the data', async () => {
    const client = await pool.connect();
    try {
      await client.query('SET statement_timeout = 1');
      const err = await client.query('SELECT pg_sleep(1)').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect([isStatementTimeout(err), isDatabaseUnavailable(err), isDataError(err)]).toEqual([true, true, false]);
      expect(toAppError(err)).toMatchObject({ status: 503, code: 'unavailable' });
    } finally {
      client.release(true);
    }
  });

  it('when a key is inserted twice, then it is a conflict (the flush is stored again by statement), not a data error', async () => {
    const err = await failureOf(`CREATE TEMP TABLE t (k int PRIMARY KEY); INSERT INTO t VALUES (1), (1)`);
    expect([isConflict(err), isDataError(err)]).toEqual([true, false]);
  });
});

describe('what a flush failure answers', () => {
  it('when PostgreSQL rejects an event of a flush, then only its request gets 400 and the others of the flush are stored', async () => {
    const b = batcher((rows) => storeEvents(pool, rows));
    const sensor = randomUUID();
    const bad = b.submit([row(sensor, '{"celsius":')], 14); // not JSON: PostgreSQL's jsonb input refuses it
    const good = b.submit([row(sensor)], 14);
    expect(await answerTo(bad)).toEqual({ status: 400, code: 'invalid_request', retryAfter: undefined });
    await expect(good).resolves.toEqual({ accepted: 1, duplicates: 0 });
  });

  it('when a flush fails with a class-22 code PostgreSQL did not raise, then its requests get 503 (retry), not "400, nothing was stored"', async () => {
    const notFromPostgres = Object.assign(new Error('a value out of range in the client'), { code: '22003' });
    const b = batcher(async () => {
      throw notFromPostgres;
    });
    expect(isDataError(notFromPostgres)).toBe(false);
    expect(await answerTo(b.submit([row(randomUUID())], 14))).toEqual({ status: 503, code: 'unavailable', retryAfter: '2' });
  });
});
