import { Client } from 'pg';
import { ADMIN_TOKEN, bearer, createSensor, getJson, postEvents, startTestService, TestService } from './helpers';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ SENSOR_CACHE_TTL_MS: '300' });
});
afterAll(async () => {
  await svc.shutdown();
});

const ok = { type: 't', payload: {} };

describe('sensors', () => {
  it('when the admin creates a sensor, then 201 with a prefixed high-entropy token shown once, and only its hash stored', async () => {
    const s = await createSensor(svc.url, 'greenhouse-7');
    expect(s).toMatchObject({ name: 'greenhouse-7', sensorId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(s.token).toMatch(/^evs_[A-Za-z0-9_-]{43}$/);
    const client = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await client.connect();
    const { rows } = await client.query('SELECT * FROM sensors WHERE id = $1', [s.sensorId]);
    await client.end();
    expect(rows).toHaveLength(1);
    const columns = JSON.stringify(rows[0], (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v));
    expect(columns).not.toContain(s.token);
    expect(columns).not.toContain(s.token.slice(4));
    expect(rows[0].token_hash.toString('hex')).toBe(require('node:crypto').createHash('sha256').update(s.token).digest('hex'));
    const list = await getJson(`${svc.url}/api/v1/sensors`, ADMIN_TOKEN);
    expect(list.body.sensors).toContainEqual(expect.objectContaining({ sensorId: s.sensorId, revokedAt: null }));
    expect(JSON.stringify(list.body)).not.toContain(s.token);
  });

  it('a sensor reads its own details with its token', async () => {
    const s = await createSensor(svc.url);
    const me = await getJson(`${svc.url}/api/v1/sensor`, s.token);
    expect(me).toMatchObject({ status: 200, body: { sensorId: s.sensorId, name: s.name, createdAt: s.createdAt } });
  });

  it('rejects a bad sensor name with 400', async () => {
    const res = await fetch(`${svc.url}/api/v1/sensors`, {
      method: 'POST',
      headers: { ...bearer(ADMIN_TOKEN), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: '' }),
    });
    expect(res.status).toBe(400);
  });

  it('when a sensor is revoked, then its token stops working at once on this instance', async () => {
    const s = await createSensor(svc.url);
    expect((await postEvents(svc.url, s.token, ok)).status).toBe(202);
    const del = await fetch(`${svc.url}/api/v1/sensors/${s.sensorId}`, { method: 'DELETE', headers: bearer(ADMIN_TOKEN) });
    expect(del.status).toBe(204);
    const after = await postEvents(svc.url, s.token, ok);
    expect(after).toMatchObject({ status: 403, body: { error: { code: 'token_revoked' } } });
  });

  it('when a sensor is revoked on another instance, then its token stops working here within the cache TTL', async () => {
    const other = await startTestService({ SENSOR_CACHE_TTL_MS: '300' });
    try {
      const s = await createSensor(svc.url);
      expect((await postEvents(svc.url, s.token, ok)).status).toBe(202); // now cached here
      const del = await fetch(`${other.url}/api/v1/sensors/${s.sensorId}`, { method: 'DELETE', headers: bearer(ADMIN_TOKEN) });
      expect(del.status).toBe(204);
      await new Promise((r) => setTimeout(r, 400));
      expect((await postEvents(svc.url, s.token, ok)).status).toBe(403);
    } finally {
      await other.shutdown();
    }
  });

  it('revoking an unknown sensor is 404; a malformed id is 400', async () => {
    const unknown = await fetch(`${svc.url}/api/v1/sensors/00000000-0000-4000-8000-000000000000`, {
      method: 'DELETE',
      headers: bearer(ADMIN_TOKEN),
    });
    expect(unknown.status).toBe(404);
    const bad = await fetch(`${svc.url}/api/v1/sensors/not-a-uuid`, { method: 'DELETE', headers: bearer(ADMIN_TOKEN) });
    expect(bad.status).toBe(400);
  });
});

describe('auth matrix', () => {
  it('answers each kind of credential with the right status and code', async () => {
    const s = await createSensor(svc.url);
    const revoked = await createSensor(svc.url);
    await fetch(`${svc.url}/api/v1/sensors/${revoked.sensorId}`, { method: 'DELETE', headers: bearer(ADMIN_TOKEN) });
    const cases: Array<[string, Record<string, string>, string, number, string]> = [
      ['no token', {}, '/api/v1/sensor', 401, 'missing_token'],
      ['malformed header', { Authorization: 'Token abc' }, '/api/v1/sensor', 401, 'malformed_token'],
      ['unknown token', bearer(`evs_${'A'.repeat(43)}`), '/api/v1/sensor', 401, 'unknown_token'],
      ['revoked token', bearer(revoked.token), '/api/v1/sensor', 403, 'token_revoked'],
      ['admin token on a sensor route', bearer(ADMIN_TOKEN), '/api/v1/sensor', 403, 'forbidden'],
      ['sensor token on an admin route', bearer(s.token), '/api/v1/sensors', 403, 'forbidden'],
      ['unknown token on an admin route', bearer('nope'), '/api/v1/sensors', 401, 'unknown_token'],
      ['no token on an admin route', {}, '/api/v1/sensors', 401, 'missing_token'],
    ];
    for (const [name, headers, path, status, code] of cases) {
      const res = await fetch(`${svc.url}${path}`, { headers });
      const body = (await res.json()) as any;
      expect({ name, status: res.status, code: body.error.code }).toEqual({ name, status, code });
      if (status === 401) expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
  });
});
