import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { documentedPath, ROUTES } from '../src/http/route-table';
import { createSensor, CreatedSensor, getJson, postEvents, startTestService, storedEvents, TestService } from './helpers';

let svc: TestService;
let sensor: CreatedSensor;
const db = () => process.env.TEST_DATABASE_URL as string;

beforeAll(async () => {
  svc = await startTestService({ METRIC_EVENT_TYPES: 'metric_probe' });
});
afterAll(async () => {
  await svc.shutdown();
});
beforeEach(async () => {
  sensor = await createSensor(svc.url);
});

/** The ids claimed for dedupe in `event_ids` for a sensor, sorted. */
async function claimedIds(sensorId: string): Promise<string[]> {
  const client = new Client({ connectionString: db() });
  await client.connect();
  try {
    const { rows } = await client.query<{ event_id: string }>('SELECT event_id FROM event_ids WHERE sensor_id = $1 ORDER BY event_id', [
      sensorId,
    ]);
    return rows.map((r) => r.event_id);
  } finally {
    await client.end();
  }
}

const event = (extra: Record<string, unknown> = {}): Record<string, any> => ({
  id: randomUUID(),
  type: 'temperature',
  payload: { celsius: 21.5 },
  ...extra,
});

describe('POST /api/v1/events', () => {
  it('when one event is posted, then it is committed before the 202 and stored with its fields', async () => {
    const e = event({ ts: new Date(Date.now() - 60_000).toISOString(), payload: { celsius: 19, nested: { a: [1, 2] } } });
    const res = await postEvents(svc.url, sensor.token, e);
    expect(res).toMatchObject({ status: 202, body: { accepted: 1, duplicates: 0 } });
    const rows = await storedEvents(db(), sensor.sensorId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ event_id: e.id, type: 'temperature', payload: e.payload });
    expect(rows[0]!.ts.toISOString()).toBe(e.ts);
  });

  it('when a batch is posted, then all its events are stored and counted', async () => {
    const events = Array.from({ length: 50 }, (_, i) => event({ type: i % 2 ? 'humidity' : 'temperature' }));
    const res = await postEvents(svc.url, sensor.token, { events });
    expect(res).toMatchObject({ status: 202, body: { accepted: 50, duplicates: 0 } });
    expect((await storedEvents(db(), sensor.sensorId)).map((r) => r.event_id).sort()).toEqual(events.map((e) => e.id).sort());
  });
});

describe('POST /api/v1/events: duplicates and client ids', () => {
  it('when the same event is sent twice, then it is stored once and reported as a duplicate', async () => {
    const e = event({ ts: new Date().toISOString() });
    expect((await postEvents(svc.url, sensor.token, e)).body).toEqual({ accepted: 1, duplicates: 0 });
    expect((await postEvents(svc.url, sensor.token, e)).body).toEqual({ accepted: 0, duplicates: 1 });
    expect(await storedEvents(db(), sensor.sensorId)).toHaveLength(1);
  });

  it('when an event without ts is retried (so its receive time differs), then it is still stored once', async () => {
    const e = event();
    await postEvents(svc.url, sensor.token, { events: [e] });
    await new Promise((r) => setTimeout(r, 20));
    const retry = await postEvents(svc.url, sensor.token, { events: [e, event()] });
    expect(retry.body).toEqual({ accepted: 1, duplicates: 1 });
    expect(await storedEvents(db(), sensor.sensorId)).toHaveLength(2);
  });

  it('when concurrent requests carry the same event, then exactly one stores it', async () => {
    const e = event();
    const results = await Promise.all(Array.from({ length: 8 }, () => postEvents(svc.url, sensor.token, e)));
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(202));
    expect(results.reduce((n, r) => n + r.body.accepted, 0)).toBe(1);
    expect(await storedEvents(db(), sensor.sensorId)).toHaveLength(1);
  });

  it('when events are sent without ids, then each is stored once under an id of its own and none is claimed for dedupe', async () => {
    const events = Array.from({ length: 30 }, (_, i) => ({ type: 'temperature', payload: { i } }));
    expect((await postEvents(svc.url, sensor.token, { events })).body).toEqual({ accepted: 30, duplicates: 0 });
    expect((await postEvents(svc.url, sensor.token, { type: 'door', payload: { i: 30 } })).body).toEqual({ accepted: 1, duplicates: 0 });
    const rows = await storedEvents(db(), sensor.sensorId);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(31);
    expect(rows.map((r) => (r.payload as { i: number }).i).sort((a, b) => a - b)).toEqual(Array.from({ length: 31 }, (_, i) => i));
    expect(await claimedIds(sensor.sensorId)).toEqual([]);
  });

  it('when an event without an id is retried, then it is stored again: only client ids are deduplicated', async () => {
    const e = { type: 'temperature', ts: new Date().toISOString(), payload: { celsius: 20 } };
    expect((await postEvents(svc.url, sensor.token, e)).body).toEqual({ accepted: 1, duplicates: 0 });
    expect((await postEvents(svc.url, sensor.token, e)).body).toEqual({ accepted: 1, duplicates: 0 });
    expect(await storedEvents(db(), sensor.sensorId)).toHaveLength(2);
  });

  it('when a batch mixes events with and without ids, then each is stored once and only the client ids are claimed', async () => {
    const events = Array.from({ length: 20 }, (_, i) => (i % 2 ? event() : { type: 'temperature', payload: { i } }));
    expect((await postEvents(svc.url, sensor.token, { events })).body).toEqual({ accepted: 20, duplicates: 0 });
    expect(await storedEvents(db(), sensor.sensorId)).toHaveLength(20);
    const clientIds = events.flatMap((e) => ('id' in e ? [e.id as string] : [])).sort();
    expect(await claimedIds(sensor.sensorId)).toEqual(clientIds);
  });

  it('when a mixed batch is retried with one more event of each kind, then the client ids count as duplicates and the rest is stored', async () => {
    const withIds = Array.from({ length: 5 }, () => event());
    const withoutIds = Array.from({ length: 5 }, (_, i) => ({ type: 'temperature', payload: { i } }));
    expect((await postEvents(svc.url, sensor.token, { events: [...withIds, ...withoutIds] })).body).toEqual({
      accepted: 10,
      duplicates: 0,
    });
    const retry = [...withIds, event(), ...withoutIds, { type: 'temperature', payload: { i: 5 } }];
    expect((await postEvents(svc.url, sensor.token, { events: retry })).body).toEqual({ accepted: 7, duplicates: 5 });
    expect(await storedEvents(db(), sensor.sensorId)).toHaveLength(17);
    expect(await claimedIds(sensor.sensorId)).toHaveLength(6);
  });
});

describe('POST /api/v1/events: validation and limits', () => {
  it('when one event of a batch is invalid, then the whole batch is rejected with per-index errors and nothing is stored', async () => {
    const events = [event(), event({ type: '' }), event(), event({ payload: 'not an object' }), event({ extra: 1 })];
    const res = await postEvents(svc.url, sensor.token, { events });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    const details: Array<{ index: number; message: string }> = res.body.error.details;
    expect([...new Set(details.map((d) => d.index))]).toEqual([1, 3, 4]);
    expect(details.find((d) => d.index === 4)?.message).toMatch(/unknown field.*extra/);
    expect(await storedEvents(db(), sensor.sensorId)).toHaveLength(0);
  });

  it('when sentAt is given, then event times are corrected by the sensor clock skew', async () => {
    const skewMs = 3_600_000; // the sensor's clock is an hour behind
    const sensorNow = Date.now() - skewMs;
    const ts = new Date(sensorNow - 10_000).toISOString();
    const res = await postEvents(svc.url, sensor.token, { sentAt: new Date(sensorNow).toISOString(), events: [event({ ts })] });
    expect(res.status).toBe(202);
    const [row] = await storedEvents(db(), sensor.sensorId);
    const expected = Date.parse(ts) + skewMs;
    expect(Math.abs(row!.ts.getTime() - expected)).toBeLessThan(5_000);
  });

  it('when an event is outside the accepted time window, then the request is rejected with 400', async () => {
    for (const ts of [new Date(Date.now() - 8 * 86_400_000).toISOString(), new Date(Date.now() + 600_000).toISOString()]) {
      const res = await postEvents(svc.url, sensor.token, { events: [event(), event({ ts })] });
      expect(res.status).toBe(400);
      expect(res.body.error.details).toEqual([expect.objectContaining({ index: 1, path: 'ts' })]);
    }
    expect(await storedEvents(db(), sensor.sensorId)).toHaveLength(0);
  });

  it('when the body is over the limit or has too many events, then 413', async () => {
    const tooMany = await postEvents(svc.url, sensor.token, { events: Array.from({ length: 1001 }, () => event()) });
    expect(tooMany).toMatchObject({ status: 413, body: { error: { code: 'too_many_events' } } });
    const big = await postEvents(svc.url, sensor.token, event({ payload: { blob: 'x'.repeat(1_100_000) } }));
    expect(big).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large' } } });
  });

  it('when the body is not JSON, then 415; when it is malformed JSON, then 400', async () => {
    const res = await fetch(`${svc.url}/api/v1/events`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${sensor.token}`, 'Content-Type': 'text/plain' },
      body: 'hello',
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as any).error.code).toBe('unsupported_media_type');
    const bad = await postEvents(svc.url, sensor.token, '{"type": "x", ');
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
  });

  it('when a payload is too deep or holds a NUL character, then 400 and nothing is stored', async () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 10; i++) deep = { d: deep };
    for (const payload of [deep, { s: 'a\u0000b' }, { s: '\ud800' }]) {
      const res = await postEvents(svc.url, sensor.token, event({ payload }));
      expect(res.status).toBe(400);
    }
    expect(await storedEvents(db(), sensor.sensorId)).toHaveLength(0);
  });
});

describe('GET /api/v1/events', () => {
  it('pages through every event newest first, without gaps or repeats', async () => {
    const base = Date.now() - 3_600_000;
    // Several events share a timestamp, so the cursor must break ties by id.
    const events = Array.from({ length: 37 }, (_, i) => event({ ts: new Date(base + Math.floor(i / 3) * 1000).toISOString() }));
    expect((await postEvents(svc.url, sensor.token, { events })).status).toBe(202);
    const seen: Array<{ id: string; ts: string }> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `limit=5${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await getJson(`${svc.url}/api/v1/events?${q}`, sensor.token);
      expect(res.status).toBe(200);
      seen.push(...res.body.events);
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor && pages < 20);
    expect(pages).toBe(8);
    expect(seen.map((e) => e.id).sort()).toEqual(events.map((e) => e.id).sort());
    const order = seen.map((e) => `${e.ts}|${e.id}`);
    expect(order).toEqual([...order].sort().reverse());
  });

  it('filters by type and time range', async () => {
    const t0 = Date.now() - 600_000;
    const events = [
      event({ type: 'a', ts: new Date(t0).toISOString() }),
      event({ type: 'b', ts: new Date(t0 + 1000).toISOString() }),
      event({ type: 'a', ts: new Date(t0 + 2000).toISOString() }),
    ];
    await postEvents(svc.url, sensor.token, { events });
    const hour = `since=${encodeURIComponent(new Date(t0 - 1000).toISOString())}&until=${encodeURIComponent(new Date(t0 + 3_599_000).toISOString())}`;
    const byType = await getJson(`${svc.url}/api/v1/events?type=a&${hour}`, sensor.token);
    expect(byType.body.events.map((e: { id: string }) => e.id)).toEqual([events[2]!.id, events[0]!.id]);
    const since = encodeURIComponent(new Date(t0 + 500).toISOString());
    const until = encodeURIComponent(new Date(t0 + 2000).toISOString());
    const range = await getJson(`${svc.url}/api/v1/events?since=${since}&until=${until}`, sensor.token);
    expect(range.body.events.map((e: { id: string }) => e.id)).toEqual([events[1]!.id]);
  });

  it("never shows one sensor another sensor's events", async () => {
    const other = await createSensor(svc.url);
    await postEvents(svc.url, other.token, event());
    const mine = await getJson(`${svc.url}/api/v1/events`, sensor.token);
    expect(mine.body.events).toEqual([]);
  });

  it('rejects unknown parameters and foreign cursors with 400', async () => {
    expect((await getJson(`${svc.url}/api/v1/events?sensorId=x`, sensor.token)).status).toBe(400);
    expect((await getJson(`${svc.url}/api/v1/events?cursor=bm9wZQ`, sensor.token)).body.error.code).toBe('invalid_cursor');
    expect((await getJson(`${svc.url}/api/v1/events?limit=0`, sensor.token)).status).toBe(400);
  });
});

describe('metrics of the ingest path', () => {
  it('counts ingested, rejected and duplicate events', async () => {
    const e = event({ type: 'metric_probe' });
    await postEvents(svc.url, sensor.token, e);
    await postEvents(svc.url, sensor.token, e);
    await postEvents(svc.url, sensor.token, { events: [event({ type: '' })] });
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    expect(text).toMatch(/^events_ingested_total\{type="metric_probe"\} 1$/m);
    expect(text).toMatch(/^events_duplicates_total [1-9]\d*$/m);
    expect(text).toMatch(/^events_rejected_total\{reason="invalid"\} [1-9]\d*$/m);
    expect(text).toMatch(/^ingest_flush_rows_count [1-9]\d*$/m);
    expect(text).toMatch(/^ingest_queue_rows 0$/m);
    expect(text).toMatch(/^db_pool_connections_max 10$/m);
    expect(text).toMatch(/http_requests_total\{method="POST",route="\/api\/v1\/events",code="202"\}/);
  });
});

describe('the route table', () => {
  /** Every route Express serves, as `METHOD path`, through the routers mounted on the app. */
  const served = (stack: any[]): string[] =>
    stack.flatMap((layer) =>
      layer.route
        ? Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${layer.route.path}`)
        : layer.handle?.stack
          ? served(layer.handle.stack)
          : [],
    );

  it('when a route is served, then it is declared in the route table, and every declared route is served', () => {
    const declared = Object.values(ROUTES).map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(served((svc.parts.app as any).router.stack).sort()).toEqual(declared.sort());
  });

  it('when GET /api/v1/openapi.json is asked, then it documents every API route of the table with the request schemas', async () => {
    const res = await getJson(`${svc.url}${ROUTES.openApi.path}`);
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const documented = Object.entries(res.body.paths as Record<string, object>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m} ${p}`),
    );
    const api = Object.values(ROUTES).filter((r) => r.kind === 'api' && r !== ROUTES.openApi);
    expect(documented.sort()).toEqual(api.map((r) => `${r.method} ${documentedPath(r)}`).sort());
    expect(res.body.components.schemas.Event.required).toEqual(['type', 'payload']);
  });
});
