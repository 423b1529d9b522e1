import { randomUUID } from 'node:crypto';
import { Client, Pool } from 'pg';
import { readEvents } from '../../src/db/events-repo';
import { TYPE_FILTER_MAX_WINDOW_S } from '../../src/ingest/schemas';
import { bearer, createSensor, freshDatabase, getJson, postEvents, startTestService } from '../helpers';
import { expectFair, underAttack } from './load';

/**
 * `rows` events of one sensor written straight into PostgreSQL, `spacing` apart back from now: a long history makes an
 * unindexed filter slow.
 */
async function history(databaseUrl: string, sensorId: string, rows: number, spacing = '1 ms'): Promise<void> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`SELECT ensure_events_partition((now() AT TIME ZONE 'UTC')::date - d) FROM generate_series(0, 8) d`);
    await client.query(
      `INSERT INTO events (sensor_id, event_id, type, ts, received_at, payload)
       SELECT $1, gen_random_uuid(), 'reading', now() - i * $3::interval, now(), '{}' FROM generate_series(1, $2::int) i`,
      [sensorId, rows, spacing],
    );
    await client.query('ANALYZE events');
  } finally {
    await client.end();
  }
}

/** `since` and `until` one hour apart, ending a minute from now: the widest window a type filter may have. */
function lastHour(): string {
  const until = Date.now() + 60_000;
  return `since=${new Date(until - TYPE_FILTER_MAX_WINDOW_S * 1000).toISOString()}&until=${new Date(until).toISOString()}`;
}

describe('the type filter', () => {
  it('when a sensor filters by type without since and until at most an hour apart, then it gets 400 naming type; within an hour, the events of that type', async () => {
    const svc = await startTestService({ LOG_LEVEL: 'warn' });
    try {
      const sensor = await createSensor(svc.url);
      expect(
        (
          await postEvents(svc.url, sensor.token, {
            events: [
              { type: 'a', payload: {} },
              { type: 'b', payload: {} },
            ],
          })
        ).status,
      ).toBe(202);
      const day = `since=${new Date(Date.now() - 86_400_000).toISOString()}&until=${new Date(Date.now() + 60_000).toISOString()}`;
      for (const query of ['type=a', `type=a&since=${new Date(Date.now() - 60_000).toISOString()}`, `type=a&${day}`]) {
        const refused = await getJson(`${svc.url}/api/v1/events?${query}`, sensor.token);
        expect([refused.status, refused.body.error.code, refused.body.error.details]).toEqual([
          400,
          'invalid_request',
          [{ path: 'type', message: 'type filters only within a time window: since and until at most 3600 s (1 h) apart' }],
        ]);
      }
      const page = await getJson(`${svc.url}/api/v1/events?type=a&${lastHour()}`, sensor.token);
      expect([page.status, page.body.events.map((e: { type: string }) => e.type)]).toEqual([200, ['a']]);
      // Without type, any window (or none) is still served.
      expect((await getJson(`${svc.url}/api/v1/events?${day}`, sensor.token)).status).toBe(200);
    } finally {
      await svc.shutdown();
    }
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}
const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];

describe('the type filter', () => {
  it('when a type filter comes with an allowed window, then PostgreSQL serves it from the (sensor, ts) key, bounded by the window, in the window’s partitions only', async () => {
    const db = await freshDatabase();
    const pool = new Pool({ connectionString: db });
    try {
      const sensorId = randomUUID();
      // A week of history (one event every 6 s), beside another sensor's.
      await history(db, sensorId, 100_000, '6 s');
      await history(db, randomUUID(), 100_000, '6 s');
      // The reads query itself, explained on the same connection pool before it runs.
      const plans: PlanNode[] = [];
      const explaining = {
        query: async (sql: string, values: unknown[]) => {
          const { rows } = await pool.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (FORMAT JSON) ${sql}`, values);
          plans.push(rows[0]!['QUERY PLAN'][0]!.Plan);
          return pool.query(sql, values);
        },
      } as unknown as Pool;
      const until = new Date(Date.now() + 60_000);
      await readEvents(explaining, {
        sensorId,
        type: 'nope',
        since: new Date(until.getTime() - TYPE_FILTER_MAX_WINDOW_S * 1000),
        until,
        limit: 2,
      });
      const plan = nodes(plans[0]!);
      // Rows are reached through the index only (an index scan, or a bitmap built from it), in at most two daily
      // partitions (an hour spans no more), and the index condition holds both ends of the window.
      expect(plan.filter((n) => n['Node Type'] === 'Seq Scan')).toEqual([]);
      expect(new Set(plan.map((n) => n['Relation Name']).filter(Boolean)).size).toBeLessThanOrEqual(2);
      const indexScans = plan.filter((n) => n['Index Name']);
      expect(indexScans.length).toBeGreaterThan(0);
      for (const scan of indexScans) {
        expect(scan['Index Name']).toMatch(/sensor_id_ts_event_id/);
        expect(scan['Index Cond']).toMatch(/sensor_id = .*ts >= .*ts < /);
      }
    } finally {
      await pool.end();
    }
  });
});

describe('the read pool', () => {
  it('when one sensor floods the reads with a filter no row matches, then another sensor’s reads are answered 200 and the flood gets 429 beyond its share', async () => {
    const db = await freshDatabase();
    // A read of the flood scans the attacker's 300,000 rows of the last hour (0.2–0.8 s): the time-box is set wide
    // enough that the flood is answered 200 or 429, never 503 read_timeout (that is the next test's).
    const svc = await startTestService({ DATABASE_URL: db, DB_READ_POOL_MAX: '2', READ_TIMEOUT_MS: '10000', LOG_LEVEL: 'warn' });
    try {
      const [legit, attacker] = [await createSensor(svc.url), await createSensor(svc.url)];
      await history(db, attacker.sensorId, 300_000);
      const run = await underAttack({
        legit: async () => (await getJson(`${svc.url}/api/v1/events?limit=1`, legit.token)).status,
        attack: {
          kind: 'http',
          url: `${svc.url}/api/v1/events?type=nope&limit=1&${lastHour()}`,
          headers: bearer(attacker.token),
          // The report's 16 connections each waited 0.2–0.8 s for an answer: about 40 requests a second.
          connections: 16,
          perSecond: 40,
        },
      });
      // The attacker's reads within its share are served.
      expectFair(run, 200, [200]);
      expect(run.attack[429]).toBeGreaterThan(0);
    } finally {
      await svc.shutdown();
    }
  }, 90_000); // 300,000 rows to write first: past jest's 30 s on a busy 2-core machine

  it('when reads wait for a connection or run past READ_TIMEOUT_MS, then they get 503 busy and read_timeout, never "database unavailable"', async () => {
    const db = await freshDatabase();
    const svc = await startTestService({ DATABASE_URL: db, DB_READ_POOL_MAX: '1', DB_CONNECT_TIMEOUT_MS: '300', READ_TIMEOUT_MS: '1500' });
    const locker = new Client({ connectionString: db });
    await locker.connect();
    try {
      const [a, b] = [await createSensor(svc.url), await createSensor(svc.url)];
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE'); // every read now waits
      const slow = getJson(`${svc.url}/api/v1/events?limit=1`, a.token);
      await new Promise((r) => setTimeout(r, 100));
      const waiting = await getJson(`${svc.url}/api/v1/events?limit=1`, b.token);
      expect([waiting.status, waiting.body.error.code, waiting.headers.get('retry-after')]).toEqual([503, 'busy', '1']);
      const timedOut = await slow;
      expect([timedOut.status, timedOut.body.error.code]).toEqual([503, 'read_timeout']);
      await locker.query('COMMIT');
      expect((await getJson(`${svc.url}/api/v1/events?limit=1`, b.token)).status).toBe(200);
    } finally {
      await locker.end();
      await svc.shutdown();
    }
  });
});
