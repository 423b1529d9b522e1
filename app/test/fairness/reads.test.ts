import { Client } from 'pg';
import { bearer, createSensor, freshDatabase, getJson, startTestService } from '../helpers';
import { expectFair, underAttack } from './load';

/** `rows` events of one sensor written straight into PostgreSQL: a long history makes an unindexed filter slow. */
async function history(databaseUrl: string, sensorId: string, rows: number): Promise<void> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`SELECT ensure_events_partition((now() AT TIME ZONE 'UTC')::date - d) FROM generate_series(0, 1) d`);
    await client.query(
      `INSERT INTO events (sensor_id, event_id, type, ts, received_at, payload)
       SELECT $1, gen_random_uuid(), 'reading', now() - i * interval '1 ms', now(), '{}' FROM generate_series(1, $2::int) i`,
      [sensorId, rows],
    );
    await client.query('ANALYZE events');
  } finally {
    await client.end();
  }
}

describe('the read pool', () => {
  it('when one sensor floods the reads with a filter no row matches, then another sensor’s reads are answered 200 and the flood gets 429 beyond its share', async () => {
    const db = await freshDatabase();
    const svc = await startTestService({ DATABASE_URL: db, DB_READ_POOL_MAX: '2', LOG_LEVEL: 'warn' });
    try {
      const [legit, attacker] = [await createSensor(svc.url), await createSensor(svc.url)];
      await history(db, attacker.sensorId, 300_000);
      const run = await underAttack({
        legit: async () => (await getJson(`${svc.url}/api/v1/events?limit=1`, legit.token)).status,
        attack: {
          kind: 'http',
          url: `${svc.url}/api/v1/events?type=nope&limit=1`,
          headers: bearer(attacker.token),
          // The report's 16 connections each waited 0.2–0.8 s for an answer: about 40 requests a second.
          connections: 16,
          perSecond: 40,
        },
      });
      // The attacker's reads within its share are served (200, or 503 read_timeout past READ_TIMEOUT_MS).
      expectFair(run, 200, [200, 503]);
      expect(run.attack[429]).toBeGreaterThan(0);
    } finally {
      await svc.shutdown();
    }
  });

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
