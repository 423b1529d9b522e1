/**
 * Security checks: the auth matrix over every route, read isolation between sensors, no plaintext
 * token in the database, nothing secret in logs, and limits that hold before a body is read.
 * (The run-wide log scan itself runs in the jest global teardown: tools/test/secret-scan.ts.)
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { describeScan, scanLogsForSecrets } from '../../../tools/test/secret-scan';
import {
  ADMIN_TOKEN,
  bearer,
  createSensor,
  CreatedSensor,
  freshDatabase,
  getJson,
  postEvents,
  startTestService,
  TestService,
} from '../helpers';

let svc: TestService;
let databaseUrl: string;
let alice: CreatedSensor;
let bob: CreatedSensor;
let revoked: CreatedSensor;

beforeAll(async () => {
  databaseUrl = await freshDatabase(); // its own database, so every row in it can be searched
  svc = await startTestService({ DATABASE_URL: databaseUrl, SENSOR_CACHE_TTL_MS: '0' });
  [alice, bob, revoked] = [
    await createSensor(svc.url, 'alice'),
    await createSensor(svc.url, 'bob'),
    await createSensor(svc.url, 'revoked'),
  ];
  const del = await fetch(`${svc.url}/api/v1/sensors/${revoked.sensorId}`, { method: 'DELETE', headers: bearer(ADMIN_TOKEN) });
  expect(del.status).toBe(204);
});
afterAll(async () => {
  await svc?.shutdown();
});

async function call(method: string, route: string, headers: Record<string, string>): Promise<{ status: number; code?: string }> {
  const withBody = method === 'POST';
  const body = route === '/api/v1/sensors' ? { name: 'x' } : { type: 't', payload: {} };
  const res = await fetch(`${svc.url}${route}`, {
    method,
    headers: { ...headers, ...(withBody ? { 'Content-Type': 'application/json' } : {}) },
    body: withBody ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, code: text ? (JSON.parse(text) as { error?: { code?: string } }).error?.code : undefined };
}

describe('auth matrix over every route', () => {
  const sensorRoutes = [
    ['POST', '/api/v1/events'],
    ['GET', '/api/v1/events'],
    ['GET', '/api/v1/sensor'],
  ];
  const adminRoutes = [
    ['GET', '/api/v1/sensors'],
    ['POST', '/api/v1/sensors'],
    ['DELETE', `/api/v1/sensors/${randomUUID()}`],
  ];
  type Expectation = [number, string] | 'ok';
  const credentials: Array<[string, () => Record<string, string>, Expectation, Expectation]> = [
    // name, headers, on a sensor route, on an admin route
    ['no token', () => ({}), [401, 'missing_token'], [401, 'missing_token']],
    ['Basic instead of Bearer', () => ({ Authorization: 'Basic YWRtaW46YWRtaW4=' }), [401, 'malformed_token'], [401, 'malformed_token']],
    ['an empty bearer', () => ({ Authorization: 'Bearer ' }), [401, 'malformed_token'], [401, 'malformed_token']],
    ['an overlong bearer', () => bearer('x'.repeat(600)), [401, 'malformed_token'], [401, 'malformed_token']],
    ['an unknown sensor-shaped token', () => bearer(`evs_${'Q'.repeat(43)}`), [401, 'unknown_token'], [401, 'unknown_token']],
    ['an unknown free-form token', () => bearer('not-a-token-at-all'), [401, 'unknown_token'], [401, 'unknown_token']],
    ['a revoked sensor token', () => bearer(revoked.token), [403, 'token_revoked'], [403, 'forbidden']],
    ['the admin token', () => bearer(ADMIN_TOKEN), [403, 'forbidden'], 'ok'],
    ['a sensor token', () => bearer(alice.token), 'ok', [403, 'forbidden']],
    // The scheme is case-insensitive (RFC 7235).
    ['a sensor token after "bearer"', () => ({ Authorization: `bearer ${alice.token}` }), 'ok', [403, 'forbidden']],
    ['the admin token after "BEARER"', () => ({ Authorization: `BEARER ${ADMIN_TOKEN}` }), [403, 'forbidden'], 'ok'],
  ];

  it.each(credentials.map(([name, ...rest]) => [name, ...rest] as const))(
    'with %s, each route answers as the matrix says',
    async (_name, headers, onSensorRoute, onAdminRoute) => {
      for (const [routes, expected] of [
        [sensorRoutes, onSensorRoute],
        [adminRoutes, onAdminRoute],
      ] as const) {
        for (const [method, route] of routes) {
          const res = await call(method!, route!, headers());
          if (expected === 'ok') expect({ route, ok: res.status < 400 || res.code === 'not_found' }).toEqual({ route, ok: true });
          else expect({ route, status: res.status, code: res.code }).toEqual({ route, status: expected[0], code: expected[1] });
        }
      }
    },
  );
});

describe("another sensor's events", () => {
  it("when sensor B uses its own token, then it never sees sensor A's events, whatever it asks for", async () => {
    const aliceIds = Array.from({ length: 5 }, () => randomUUID());
    expect(
      (await postEvents(svc.url, alice.token, { events: aliceIds.map((id) => ({ id, type: 'secret', payload: { owner: 'alice' } })) }))
        .status,
    ).toBe(202);
    expect((await postEvents(svc.url, bob.token, { type: 'mine', payload: { owner: 'bob' } })).status).toBe(202);

    const alicePage = await getJson(`${svc.url}/api/v1/events?limit=2`, alice.token);
    const now = Date.now(); // one clock reading: a read with `type` spans at most the hour
    const asks = [
      '/api/v1/events',
      `/api/v1/events?type=secret&since=${new Date(now - 3_540_000).toISOString()}&until=${new Date(now + 60_000).toISOString()}`,
      `/api/v1/events?cursor=${alicePage.body.nextCursor}`, // A's cursor only positions; it does not select a sensor
      `/api/v1/events?limit=1000&since=${new Date(Date.now() - 86400_000).toISOString()}`,
    ];
    for (const ask of asks) {
      const res = await getJson(`${svc.url}${ask}`, bob.token);
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.body)).not.toContain('alice');
      for (const id of aliceIds) expect(JSON.stringify(res.body)).not.toContain(id);
    }
    // Naming the other sensor is refused, not ignored.
    expect((await getJson(`${svc.url}/api/v1/events?sensorId=${alice.sensorId}`, bob.token)).status).toBe(400);
    const forged = await postEvents(svc.url, bob.token, { type: 't', payload: {}, sensorId: alice.sensorId });
    expect(forged).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
  });

  it("when sensor B re-sends sensor A's event id, then A's event is untouched and B gets its own copy", async () => {
    const id = randomUUID();
    expect((await postEvents(svc.url, alice.token, { id, type: 't', payload: { v: 'alice' } })).body).toEqual({
      accepted: 1,
      duplicates: 0,
    });
    expect((await postEvents(svc.url, bob.token, { id, type: 't', payload: { v: 'bob' } })).body).toEqual({ accepted: 1, duplicates: 0 });
    const aliceView = await getJson(`${svc.url}/api/v1/events?limit=1000`, alice.token);
    expect(aliceView.body.events.find((e: { id: string }) => e.id === id).payload).toEqual({ v: 'alice' });
  });
});

describe('secrets at rest and in logs', () => {
  it('the database holds no plaintext token: no row of any table contains one', async () => {
    const client = new Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows: tables } = await client.query<{ name: string }>(
        "SELECT quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
      );
      let dump = '';
      for (const t of tables) {
        const { rows } = await client.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM ${t.name} t`);
        dump += rows.map((r) => r.row).join('\n');
      }
      expect(dump).toContain(alice.sensorId); // the dump really holds the sensors
      for (const secret of [alice.token, bob.token, revoked.token, ADMIN_TOKEN]) {
        expect(dump).not.toContain(secret);
        expect(dump).not.toContain(secret.slice(4)); // nor the random part alone
        expect(dump).not.toContain(Buffer.from(secret).toString('base64'));
      }
    } finally {
      await client.end();
    }
  });

  it('when a client puts its token in the URL by mistake, then the token is not logged', async () => {
    await fetch(`${svc.url}/api/v1/events?token=${alice.token}&access_token=${alice.token}`, { headers: bearer(alice.token) });
    await fetch(`${svc.url}/nowhere?admin=${ADMIN_TOKEN}`);
    await fetch(`${svc.url}/api/v1/events/${alice.token}`, { method: 'POST' }); // 404, and its message names the path
    // The admin token pasted into a path, raw and percent-encoded: 404 and 401, both logged.
    const pasted = await fetch(`${svc.url}/api/v1/sensors/${ADMIN_TOKEN}/x`, { method: 'DELETE' });
    expect(await pasted.text()).not.toContain(ADMIN_TOKEN);
    await fetch(`${svc.url}/api/v1/sensors/${[...ADMIN_TOKEN].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}`, {
      method: 'DELETE',
    });
    // A sensor token percent-encoded into a path, wholly or only its underscore: decoded before it is redacted.
    const encoded = [...alice.token].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
    await fetch(`${svc.url}/api/v1/sensors/${encoded}`, { method: 'DELETE' });
    await fetch(`${svc.url}/api/v1/sensors/${alice.token.replace('_', '%5F')}`, { method: 'DELETE' });
    await fetch(`${svc.url}/api/v1/sensors/%E0${encoded}`, { method: 'DELETE' });
    const log = svc.logText();
    expect(log).not.toContain(alice.token.slice(4)); // the token's random part, however it was encoded
    expect(log).not.toContain(encoded.slice(12));
    expect(log).toContain('/nowhere'); // the requests were logged…
    expect(log).not.toContain(alice.token); // …without the tokens
    expect(log).not.toContain(ADMIN_TOKEN);
  });

  it('the run-wide log scan finds a token, an admin token or a password wherever it is written', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secret-scan-'));
    try {
      fs.mkdirSync(path.join(dir, 'child'));
      fs.mkdirSync(path.join(dir, 'postgres', 'data'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'service-logs.jsonl'), `{"msg":"ok"}\n{"msg":"oops ${alice.token}"}\n`);
      fs.writeFileSync(path.join(dir, 'child', 'service.log'), `{"url":"postgres://u:pw-${'0'.repeat(32)}@h/db"}\n`);
      fs.writeFileSync(path.join(dir, 'postgres', 'postgres.log'), `statement: ${ADMIN_TOKEN}\n`);
      fs.writeFileSync(path.join(dir, 'postgres', 'data', 'base.log'), `${alice.token}\n`); // data dirs are not logs
      const report = scanLogsForSecrets(dir);
      expect(report.files).toHaveLength(3);
      expect(report.findings.map((f) => `${path.relative(dir, f.file)}:${f.line} ${f.what}`).sort()).toEqual([
        'child/service.log:1 password',
        'postgres/postgres.log:1 admin token',
        'service-logs.jsonl:2 sensor token',
      ]);
      expect(describeScan(report)).not.toContain(alice.token);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('limits that hold before a body is read', () => {
  /** Sends headers (and `bodyStart`) on a raw socket, then waits for the answer without sending more. */
  function rawRequest(head: string, bodyStart = ''): Promise<{ status: number; ms: number }> {
    const url = new URL(svc.url);
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname, () => socket.write(head + bodyStart));
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString();
        const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
        if (m) {
          socket.destroy();
          resolve({ status: Number(m[1]), ms: Date.now() - started });
        }
      });
      socket.on('error', reject);
      socket.setTimeout(10000, () => {
        socket.destroy();
        reject(new Error('no answer within 10 s'));
      });
    });
  }

  it('when Content-Length announces more than the limit, then 413 comes at once, without waiting for the body', async () => {
    const res = await rawRequest(
      `POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${alice.token}\r\nContent-Type: application/json\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n`,
      '{"events":[',
    );
    expect(res.status).toBe(413);
    expect(res.ms).toBeLessThan(svc.config.HTTP_REQUEST_TIMEOUT_MS); // it did not wait for a body that never comes
  });

  it('when a request has no valid credentials, then its body is never read: 401 before any of it arrives', async () => {
    const res = await rawRequest(
      `POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${512 * 1024}\r\n\r\n`,
    );
    expect(res.status).toBe(401);
  });
});
