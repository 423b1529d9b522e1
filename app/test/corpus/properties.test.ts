/**
 * Property-based tests (fast-check): whatever a client sends — body, path segment, query parameter or
 * cursor — the answer is never a 5xx, and a request that is not acknowledged stores nothing at all
 * (a batch is all or nothing).
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Client } from 'pg';
import { writeResult } from '../faults/results';
import { ADMIN_TOKEN, createSensor, CreatedSensor, startTestService, TestService } from '../helpers';
import { send } from './send';

jest.setTimeout(120000);

const RUNS = 200;
let svc: TestService;
let sensor: CreatedSensor;
let db: Client;
const tally = { requests: 0, fiveXX: 0, accepted: 0, rejected: 0 };

beforeAll(async () => {
  svc = await startTestService({ RATE_LIMIT_EVENTS: '100000000', LOG_LEVEL: 'warn' });
  sensor = await createSensor(svc.url, 'properties');
  db = new Client({ connectionString: process.env.TEST_DATABASE_URL });
  await db.connect();
});
afterAll(async () => {
  writeResult('properties', { runsPerProperty: RUNS, ...tally });
  await db?.end();
  await svc?.shutdown();
});

async function storedCount(): Promise<number> {
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE sensor_id = $1', [sensor.sensorId]);
  return Number(rows[0]!.n);
}

async function post(body: Buffer | string, contentType = 'application/json'): Promise<{ status: number; body: any }> {
  const res = await fetch(`${svc.url}/api/v1/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${sensor.token}`, 'Content-Type': contentType },
    body,
  });
  const text = await res.text();
  tally.requests++;
  if (res.status >= 500) tally.fiveXX++;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed };
}

/** Strings that include what breaks storage: NUL, lone surrogates, astral characters. */
const nastyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom('\u0000', '\ud800', '\udc00', '\ud83d\ude00', 'a', 'é', '"', '\\') }),
);
const anyJson = fc.jsonValue();
const payload = fc.oneof(
  fc.dictionary(nastyString, anyJson, { maxKeys: 5 }),
  fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'a'), anyJson, { maxKeys: 2 }),
  anyJson,
);
const isoTime = fc
  .date({ min: new Date(Date.now() - 3 * 86400_000), max: new Date(Date.now() + 60_000), noInvalidDate: true })
  .map((d) => d.toISOString());
/** Event-shaped objects, each field sometimes valid and sometimes not. */
const maybeEvent = fc.record(
  {
    id: fc.oneof(fc.constant('fresh'), fc.uuid(), nastyString),
    type: fc.oneof(fc.constantFrom('t', 'temperature', 'a.b:c-d_e'), nastyString, fc.integer()),
    ts: fc.oneof(isoTime, nastyString, fc.constantFrom('1970-01-01T00:00:00Z', '2999-01-01T00:00:00Z')),
    payload,
    extra: anyJson,
  },
  { requiredKeys: ['type', 'payload'] },
);
const validEvent = fc.record({
  type: fc.constantFrom('t', 'humidity'),
  payload: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
});

/** "fresh" ids become new UUIDs at send time, so shrinking and re-runs never collide with stored events. */
const withFreshIds = (events: unknown[]) =>
  events.map((e) => (e && typeof e === 'object' && (e as { id?: unknown }).id === 'fresh' ? { ...e, id: randomUUID() } : e));

describe('properties of ingest', () => {
  it('for any JSON document as the body, the answer is never a 5xx, and a rejected one stores nothing', async () => {
    await fc.assert(
      fc.asyncProperty(anyJson, async (doc) => {
        const before = await storedCount();
        const res = await post(JSON.stringify(doc));
        expect(res.status).toBeLessThan(500);
        const after = await storedCount();
        if (res.status === 202) expect(after - before).toBe(res.body.accepted);
        else expect(after).toBe(before);
      }),
      { numRuns: RUNS },
    );
  });

  it('for any batch mixing valid and arbitrary events, either every event is acknowledged and stored, or none is stored and the answer is a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(validEvent, { maxLength: 5 }),
        fc.array(maybeEvent, { maxLength: 3 }),
        fc.option(fc.oneof(isoTime, nastyString), { nil: undefined }),
        async (valid, arbitrary, sentAt) => {
          const events = withFreshIds([...valid.map((e) => ({ ...e, id: 'fresh' })), ...arbitrary]);
          const before = await storedCount();
          const res = await post(JSON.stringify(sentAt === undefined ? { events } : { events, sentAt }));
          const after = await storedCount();
          expect(res.status).toBeLessThan(500);
          if (res.status === 202) {
            tally.accepted++;
            expect(res.body.accepted + res.body.duplicates).toBe(events.length);
            expect(after - before).toBe(res.body.accepted);
          } else {
            tally.rejected++;
            expect(res.status).toBeGreaterThanOrEqual(400);
            expect(after).toBe(before); // not even the valid part of the batch
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('for any bytes as the body, under any content type, the answer is never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 2048 }),
        fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/octet-stream'),
        async (bytes, contentType) => {
          const before = await storedCount();
          const res = await post(Buffer.from(bytes), contentType);
          expect(res.status).toBeLessThan(500);
          if (res.status !== 202) expect(await storedCount()).toBe(before);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

/** Percent-encodes every byte of the UTF-8 text outside A-Z a-z 0-9 (encodeURIComponent throws on lone surrogates). */
const percentEncode = (text: string) =>
  [...Buffer.from(text)]
    .map((b) => (/[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`))
    .join('');
const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), maxLength: 4 });

/** A path segment as a client could write it: percent-encoded text, or raw escapes valid or not. */
const pathSegment = fc.oneof(
  nastyString.map(percentEncode),
  fc
    .array(fc.oneof(fc.constantFrom('%', '%E0', '%zz', '%00', '%2F', '%C0%AF', '..', '.', 'evs_', ';', '~'), hex), {
      maxLength: 6,
    })
    .map((parts) => parts.join('')),
  fc.uuid(),
);
const anyMethod = fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD');
const anyAuth = fc.constantFrom('sensor' as const, 'admin' as const, 'none' as const);
/** base64url of JSON shaped like a cursor, with each part sometimes valid and sometimes not. */
const cursor = fc.oneof(
  nastyString,
  anyJson.map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
  fc
    .tuple(
      fc.oneof(
        isoTime,
        nastyString,
        fc.constantFrom('-010000-01-01T00:00:00.000Z', '+275760-09-13T00:00:00.000Z', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z'),
      ),
      fc.oneof(fc.uuid(), nastyString, fc.constant('-'.repeat(36)), fc.constant('0'.repeat(36))),
    )
    .map((t) => Buffer.from(JSON.stringify(t)).toString('base64url')),
);
const queryValue = fc.oneof(nastyString, isoTime, fc.integer().map(String), fc.constantFrom('', '1e3', '-1', '0x10', 'NaN', '%E0'));
const queryParams = fc.array(
  fc.tuple(fc.oneof(fc.constantFrom('since', 'until', 'type', 'limit', 'cursor'), nastyString), fc.oneof(queryValue, cursor)),
  { maxLength: 5 },
);

async function ask(method: string, path: string, auth: 'sensor' | 'admin' | 'none', body?: string) {
  const answer = await send(
    svc.url,
    { method, path, auth, ...(body === undefined ? {} : { body }) },
    { sensor: sensor.token, admin: ADMIN_TOKEN },
  );
  tally.requests++;
  if (answer.status >= 500) tally.fiveXX++;
  return answer;
}

describe('properties of every route', () => {
  it('for any path segment on any route and method, with any credential, the answer is never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/api/v1/sensors/', '/api/v1/events/', '/api/v1/', '/', '/api/v1/sensor/'),
        pathSegment,
        anyMethod,
        anyAuth,
        async (prefix, segment, method, auth) => {
          const answer = await ask(method, prefix + segment, auth, method === 'POST' ? '{"name":"x"}' : undefined);
          expect(answer.status).toBeLessThan(500);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('for any query parameters and cursors on the read route, the answer is never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(queryParams, async (params) => {
        const query = params.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&');
        const answer = await ask('GET', `/api/v1/events?${query}`, 'sensor');
        expect(answer.status).toBeLessThan(500);
      }),
      { numRuns: RUNS },
    );
  });

  it('for any cursor, alone or with a time range, the answer is 200 or 400, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(cursor, fc.option(isoTime, { nil: undefined }), async (c, since) => {
        const answer = await ask('GET', `/api/v1/events?cursor=${percentEncode(c)}${since ? `&since=${since}` : ''}`, 'sensor');
        expect([200, 400]).toContain(answer.status);
      }),
      { numRuns: RUNS },
    );
  });
});
