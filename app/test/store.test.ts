/**
 * How a flush is stored, against the real PostgreSQL: new rows go in by binary COPY in one transaction;
 * a flush holding any duplicate is rolled back whole and stored by the deduplicating statement instead,
 * so the outcome is the same as the statement alone would give, row for row.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { insertEvents, storeEvents, type Stored } from '../src/db/events-repo';
import type { EventRow } from '../src/ingest/validate';

let pool: Pool;
beforeAll(() => {
  pool = new Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 4 });
});
afterAll(() => pool.end());

const base = Date.now();
let n = 0;
/** A row; every one has its own time (ms precision) and a payload with escapes and non-ASCII text. */
function row(sensorId: string, over: Partial<EventRow> = {}): EventRow {
  n++;
  return {
    sensorId,
    eventId: randomUUID(),
    clientId: true,
    type: n % 2 ? 'temperature' : 'door.opened',
    ts: base - n * 1_003,
    receivedAt: base + n,
    payload: JSON.stringify({ n, text: 'tab\t"quote" back\\slash ünïcödé ✓ 🌡', nested: { list: [1, 2.5, null, true] } }),
    ...over,
  };
}

const keysOf = (rows: EventRow[]) => rows.map((r) => `${r.sensorId}:${r.eventId}`);
const storedKeys = (stored: Stored, rows: EventRow[]) => (stored === 'all' ? keysOf(rows) : [...stored]).sort();

async function storedRows(sensorId: string) {
  const { rows } = await pool.query(
    `SELECT e.event_id, e.type, e.ts, e.received_at, e.payload::text AS payload, i.received_at AS claimed_at
     FROM events e JOIN event_ids i USING (sensor_id, event_id) WHERE e.sensor_id = $1 ORDER BY e.event_id`,
    [sensorId],
  );
  return rows;
}

async function counts(sensorId: string) {
  const { rows } = await pool.query(
    `SELECT (SELECT count(*) FROM events WHERE sensor_id = $1)::int AS events,
            (SELECT count(*) FROM event_ids WHERE sensor_id = $1)::int AS ids`,
    [sensorId],
  );
  return rows[0] as { events: number; ids: number };
}

describe('storing a flush', () => {
  it('when every row is new, then all are stored by COPY with the same values the statement stores', async () => {
    const [copied, stated] = [randomUUID(), randomUUID()];
    const rows = Array.from({ length: 250 }, () => row(copied));
    const twins = rows.map((r) => ({ ...r, sensorId: stated }));

    await expect(storeEvents(pool, rows)).resolves.toBe('all');
    expect((await insertEvents(pool, twins)).size).toBe(250);

    const a = await storedRows(copied);
    const b = await storedRows(stated);
    expect(a).toHaveLength(250);
    expect(a).toEqual(b); // ids, types, times to the millisecond, jsonb payloads, claims in event_ids
    const first = rows.reduce((x, y) => (x.eventId < y.eventId ? x : y));
    expect(a[0]).toMatchObject({
      event_id: first.eventId,
      type: first.type,
      ts: new Date(first.ts),
      received_at: new Date(first.receivedAt),
      claimed_at: new Date(first.receivedAt),
    });
    expect(JSON.parse(a[0].payload)).toEqual(JSON.parse(first.payload));
  });

  it('when a flush holds a row already stored, then only the new rows are stored and reported, each once', async () => {
    const sensor = randomUUID();
    const earlier = Array.from({ length: 5 }, () => row(sensor));
    await expect(storeEvents(pool, earlier)).resolves.toBe('all');

    const fresh = Array.from({ length: 20 }, () => row(sensor));
    // A retry of an event sent without `ts`: the same id, a new server-assigned time, so `events` alone cannot tell.
    const retried = { ...earlier[2]!, ts: earlier[2]!.ts + 5_000 };
    const flush = [...fresh.slice(0, 10), retried, ...fresh.slice(10), earlier[4]!];

    const stored = await storeEvents(pool, flush);
    expect(stored).not.toBe('all');
    expect(storedKeys(stored, flush)).toEqual(keysOf(fresh).sort());
    await expect(counts(sensor)).resolves.toEqual({ events: 25, ids: 25 });
  });

  it('when the same flush is stored twice at once, then each row is stored once and reported new exactly once', async () => {
    const sensor = randomUUID();
    const rows = Array.from({ length: 300 }, () => row(sensor));
    const results = await Promise.all([storeEvents(pool, rows), storeEvents(pool, [...rows].reverse())]);
    const reported = results.map((s, i) => storedKeys(s, i ? [...rows].reverse() : rows));
    expect([...reported[0]!, ...reported[1]!].sort()).toEqual(keysOf(rows).sort());
    await expect(counts(sensor)).resolves.toEqual({ events: 300, ids: 300 });
  });
});

describe('storing a flush with ids the service made up', () => {
  it('when no row has a client id, then all are stored by COPY and none is claimed in event_ids', async () => {
    const sensor = randomUUID();
    const rows = Array.from({ length: 50 }, () => row(sensor, { clientId: false }));
    await expect(storeEvents(pool, rows)).resolves.toBe('all');
    await expect(counts(sensor)).resolves.toEqual({ events: 50, ids: 0 });
  });

  it('when a flush mixes both kinds of id, then every row is stored once and only client ids are claimed', async () => {
    const sensor = randomUUID();
    const rows = Array.from({ length: 40 }, (_, i) => row(sensor, { clientId: i % 3 === 0 }));
    await expect(storeEvents(pool, rows)).resolves.toBe('all');
    await expect(counts(sensor)).resolves.toEqual({ events: 40, ids: 14 });
    const { rows: claimed } = await pool.query<{ event_id: string }>('SELECT event_id FROM event_ids WHERE sensor_id = $1', [sensor]);
    expect(claimed.map((r) => r.event_id).sort()).toEqual(
      rows
        .filter((r) => r.clientId)
        .map((r) => r.eventId)
        .sort(),
    );
  });

  it('when a mixed flush holds a client id already stored, then the fallback stores every other row once and claims only client ids', async () => {
    const sensor = randomUUID();
    const earlier = row(sensor);
    await expect(storeEvents(pool, [earlier])).resolves.toBe('all');

    const withoutIds = Array.from({ length: 10 }, () => row(sensor, { clientId: false }));
    const withIds = Array.from({ length: 10 }, () => row(sensor));
    const retried = { ...earlier, ts: earlier.ts + 5_000, receivedAt: Date.now() };
    const flush = [...withoutIds.slice(0, 5), retried, ...withIds, ...withoutIds.slice(5)];

    const stored = await storeEvents(pool, flush);
    expect(stored).not.toBe('all');
    expect(storedKeys(stored, flush)).toEqual(keysOf([...withoutIds, ...withIds]).sort());
    await expect(counts(sensor)).resolves.toEqual({ events: 21, ids: 11 });
  });
});

describe('storing a flush that fails', () => {
  it('when PostgreSQL rejects a row, then the error reaches the caller, nothing of the flush is kept and the pool stays usable', async () => {
    const sensor = randomUUID();
    const rows = [row(sensor), row(sensor, { payload: '{"bad":"\\u0000"}' }), row(sensor)];
    await expect(storeEvents(pool, rows)).rejects.toMatchObject({ code: expect.stringMatching(/^22/) });
    await expect(counts(sensor)).resolves.toEqual({ events: 0, ids: 0 });
    // every connection of the pool still stores flushes
    const again = Array.from({ length: 4 }, () => [row(sensor)]);
    await expect(Promise.all(again.map((r) => storeEvents(pool, r)))).resolves.toEqual(['all', 'all', 'all', 'all']);
  });

  it('when a row falls outside every partition, then nothing of the flush is kept', async () => {
    const sensor = randomUUID();
    const rows = [row(sensor), row(sensor, { ts: Date.UTC(1990, 0, 1) })];
    await expect(storeEvents(pool, rows)).rejects.toMatchObject({ code: '23514' });
    await expect(counts(sensor)).resolves.toEqual({ events: 0, ids: 0 });
  });

  it('when the connection is lost mid-flush, then the flush fails with the error (no uncaught error event), nothing is kept and the pool recovers', async () => {
    const sensor = randomUUID();
    const rows = Array.from({ length: 3 }, () => row(sensor));
    // Hold the second row's id in an open transaction, so the flush's COPY waits on it, then end its backend.
    const blocker = await pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('INSERT INTO event_ids (sensor_id, event_id, received_at) VALUES ($1, $2, now())', [sensor, rows[1]!.eventId]);
      const flush = storeEvents(pool, rows);
      let pid: number | undefined;
      for (let i = 0; i < 100 && !pid; i++) {
        const { rows: waiting } = await pool.query(
          `SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY event_ids%' AND wait_event_type = 'Lock' AND datname = current_database()`,
        );
        pid = waiting[0]?.pid as number | undefined;
        if (!pid) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(pid).toBeDefined();
      await pool.query('SELECT pg_terminate_backend($1)', [pid]);
      await expect(flush).rejects.toThrow(/terminat/i);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    await expect(counts(sensor)).resolves.toEqual({ events: 0, ids: 0 });
    await expect(storeEvents(pool, rows)).resolves.toBe('all');
  });
});
