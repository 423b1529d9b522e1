/**
 * Reads are charged by what they return, a page is bounded in bytes, and reads cannot take the
 * connections flushes need (they have a pool of their own).
 */
import { Client } from 'pg';
import { bearer, createSensor, freshDatabase, getJson, postEvents, startTestService } from './helpers';

const DAY = 86_400_000;

/** Lock requests of this database that are waiting, not granted (the reads queued behind a lock). */
async function lockWaiters(client: Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_locks
      WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  return rows[0]?.n ?? 0;
}

describe('reads', () => {
  it('when a sensor reads pages of events, then each page costs a unit per event returned, and it gets 429 past its limit', async () => {
    const svc = await startTestService({ RATE_LIMIT_EVENTS: '30', RATE_LIMIT_BLOCK: '1', REDIS_COMMAND_TIMEOUT_MS: '5000' });
    try {
      const s = await createSensor(svc.url);
      expect((await postEvents(svc.url, s.token, { events: Array.from({ length: 10 }, () => ({ type: 't', payload: {} })) })).status).toBe(
        202,
      );
      // 10 units spent; each page of 10 events costs 10 more.
      const first = await getJson(`${svc.url}/api/v1/events?limit=10`, s.token);
      expect({ status: first.status, events: first.body.events.length }).toEqual({ status: 200, events: 10 });
      expect((await getJson(`${svc.url}/api/v1/events?limit=10`, s.token)).status).toBe(200);
      const third = await getJson(`${svc.url}/api/v1/events?limit=10`, s.token);
      expect(third).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } });
    } finally {
      await svc.shutdown();
    }
  });

  it('when a page of large payloads would exceed READ_PAGE_MAX_BYTES, then it is cut short with a cursor, and following the cursors returns every event once', async () => {
    const svc = await startTestService({ READ_PAGE_MAX_BYTES: '40000' });
    try {
      const s = await createSensor(svc.url);
      const events = Array.from({ length: 10 }, (_, i) => ({ type: 't', payload: { i, pad: 'é'.repeat(5000) } }));
      expect((await postEvents(svc.url, s.token, { events })).status).toBe(202);
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await fetch(`${svc.url}/api/v1/events?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { headers: bearer(s.token) });
        const text = await res.text();
        expect(res.status).toBe(200);
        expect(Buffer.byteLength(text)).toBeLessThan(40000 + 11000); // the bound, plus at most the event that crossed it
        const page = JSON.parse(text) as { events: Array<{ payload: { i: number; pad: string } }>; nextCursor: string | null };
        for (const e of page.events) {
          expect(e.payload.pad).toBe('é'.repeat(5000));
          seen.push(e.payload.i);
        }
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).toBeGreaterThanOrEqual(3);
      expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await svc.shutdown();
    }
  });
});

describe('reads beside ingest, and from a replica', () => {
  it('when many slow reads are waiting, then ingest still gets a connection and answers 202', async () => {
    const db = await freshDatabase();
    // Reads may all come from one sensor here (READS_PER_SENSOR), so that they pile up on the read pool.
    const svc = await startTestService({
      DATABASE_URL: db,
      DB_CONNECT_TIMEOUT_MS: '1000',
      DB_STATEMENT_TIMEOUT_MS: '4000',
      READ_TIMEOUT_MS: '4000',
      READS_PER_SENSOR: '20',
    });
    const locker = new Client({ connectionString: db });
    await locker.connect();
    try {
      const s = await createSensor(svc.url);
      expect((await postEvents(svc.url, s.token, { type: 't', payload: {} })).status).toBe(202);
      // Yesterday's partition locked: every read (it scans all partitions) waits; today's inserts do not.
      const yesterday = new Date(Date.now() - DAY).toISOString().slice(0, 10).replace(/-/g, '');
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE events_${yesterday} IN ACCESS EXCLUSIVE MODE`);
      const reads = Array.from({ length: 20 }, () => getJson(`${svc.url}/api/v1/events`, s.token));
      await new Promise((r) => setTimeout(r, 300));
      // Answered while the lock is still held: a flush that waited behind it could only have ended at the
      // statement timeout, in a 503.
      const ingest = await postEvents(svc.url, s.token, { type: 't', payload: { while: 'reads wait' } });
      const waitingOnLock = await lockWaiters(locker);
      await locker.query('COMMIT');
      const readStatuses = (await Promise.all(reads)).map((r) => r.status);
      expect(ingest.status).toBe(202);
      expect(waitingOnLock).toBeGreaterThan(0); // the reads really were held while ingest answered
      expect(readStatuses.every((st) => st === 200 || st === 503)).toBe(true);
    } finally {
      await locker.end();
      await svc.shutdown();
    }
  });
  it('when READ_DATABASE_URL names another database (a replica), then reads come from it and ingest still writes to DATABASE_URL', async () => {
    const replica = await freshDatabase();
    const svc = await startTestService({ READ_DATABASE_URL: replica });
    const store = new Client({ connectionString: replica });
    await store.connect();
    try {
      const s = await createSensor(svc.url);
      expect((await postEvents(svc.url, s.token, { type: 't', payload: { on: 'primary' } })).status).toBe(202);
      await store.query(
        'INSERT INTO events (sensor_id, event_id, type, ts, received_at, payload) VALUES ($1, gen_random_uuid(), $2, now(), now(), $3)',
        [s.sensorId, 'on-replica', {}],
      );
      const read = await getJson(`${svc.url}/api/v1/events`, s.token);
      expect({ status: read.status, types: read.body.events.map((e: { type: string }) => e.type) }).toEqual({
        status: 200,
        types: ['on-replica'],
      });
    } finally {
      await store.end();
      await svc.shutdown();
    }
  });
});
