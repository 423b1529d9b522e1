import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMIN_TOKEN, bearer, createSensor, startTestService, TestService } from './helpers';
import { version } from '../src/version';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc.shutdown();
});

describe('request ids', () => {
  it('when a well-formed X-Request-Id comes in, then it is returned with a suffix of its own and on every log line of the request', async () => {
    const sent = `test-${Date.now()}`;
    const res = await fetch(`${svc.url}/version`, { headers: { 'X-Request-Id': sent } });
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(new RegExp(`^${sent}\\.[0-9a-f]{8}$`));
    const lines = svc.logs().filter((l) => (l.req as { id?: string } | undefined)?.id === id);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.every((l) => l.msg === 'request completed')).toBe(true);
  });

  it('when a request carries its token in the header and pasted into the URL, then its access line holds the fixed fields and neither copy of the token', async () => {
    // The access line is written without the logger's redaction (it costs 8 µs a line): its fields must be safe by construction.
    const sensor = await createSensor(svc.url);
    const res = await fetch(`${svc.url}/api/v1/events?limit=5&token=${sensor.token}`, {
      headers: { ...bearer(sensor.token), 'X-Request-Id': `token-test-${Date.now()}`, Cookie: `session=${ADMIN_TOKEN}` },
    });
    const id = res.headers.get('x-request-id');
    expect(res.status).toBe(400); // unknown query parameters
    const lines = svc.logs().filter((l) => (l.req as { id?: string } | undefined)?.id === id);
    const access = lines.filter((l) => l.msg === 'request completed');
    expect(access).toHaveLength(1);
    const line = access[0]!;
    expect(Object.keys(line.req as object).sort()).toEqual(['id', 'method', 'remoteAddress', 'url']);
    expect(line.res).toEqual({ statusCode: 400 });
    expect(typeof line.responseTime).toBe('number');
    expect((line.req as { url: string }).url).toBe('/api/v1/events?limit=5&[redacted]');
    const text = JSON.stringify(lines); // the access line, and the request's other lines (written with redaction)
    expect(text).not.toContain(sensor.token);
    expect(text).not.toContain(ADMIN_TOKEN);
  });

  it('when two requests carry the same X-Request-Id, then each gets an id of its own', async () => {
    const headers = { 'X-Request-Id': 'reused-id' };
    const [a, b] = [await fetch(`${svc.url}/version`, { headers }), await fetch(`${svc.url}/version`, { headers })];
    expect(a.headers.get('x-request-id')).toMatch(/^reused-id\./);
    expect(b.headers.get('x-request-id')).toMatch(/^reused-id\./);
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
  });

  it('when the incoming id is malformed or absent, then a fresh UUID is generated', async () => {
    for (const headers of [{ 'X-Request-Id': 'bad id with spaces <script>' }, {} as Record<string, string>]) {
      const res = await fetch(`${svc.url}/version`, { headers });
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('when a request fails, then the error body carries the same request id as the header', async () => {
    const res = await fetch(`${svc.url}/no/such/path`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).toBe('not_found');
    expect(body.error.requestId).toBe(res.headers.get('x-request-id'));
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/);
  });
});

describe('logs', () => {
  it('when a request carries an Authorization header, then neither the header nor the token reaches the log', async () => {
    const secret = `sekret-${Date.now()}-token-value`;
    await fetch(`${svc.url}/version`, { headers: { Authorization: `Bearer ${secret}`, Cookie: `session=${secret}` } });
    await fetch(`${svc.url}/nope`, { headers: { Authorization: `Bearer ${secret}` } });
    const text = svc.logText();
    expect(text).toContain('"url":"/nope"');
    expect(text).not.toContain(secret);
    expect(text.toLowerCase()).not.toContain('bearer');
  });

  it('every line is JSON with a level and a time', () => {
    for (const line of svc.logs()) {
      expect(typeof line.level).toBe('string');
      expect(typeof line.time).toBe('string');
    }
  });
});

describe('health and version', () => {
  it('GET /healthz is 200', async () => {
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
  });

  it('GET /readyz is 200 when Postgres and Redis are reachable', async () => {
    const res = await fetch(`${svc.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ready', failing: [], checks: { postgres: 'ok', redis: 'ok' } });
  });

  it('GET /version is the app package version and a commit', async () => {
    const body = (await (await fetch(`${svc.url}/version`)).json()) as { version: string; commit: string };
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect(body.version).toBe(pkg.version);
    expect(body.version).toBe(version);
    expect(body.commit).toMatch(/^([0-9a-f]{40}|unknown)$/);
  });

  it('responses carry no X-Powered-By', async () => {
    expect((await fetch(`${svc.url}/healthz`)).headers.get('x-powered-by')).toBeNull();
  });
});

describe('metrics', () => {
  it('labels requests with the route template, and unknown paths with one fixed label', async () => {
    await fetch(`${svc.url}/version`);
    await fetch(`${svc.url}/random/${Date.now()}`);
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    expect(text).toMatch(/http_requests_total\{method="GET",route="\/version",code="200"\} \d+/);
    expect(text).toMatch(/http_requests_total\{method="GET",route="unmatched",code="404"\} \d+/);
    expect(text).not.toMatch(/route="\/random/);
    expect(text).toMatch(/http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/version",code="200"\}/);
    expect(text).toMatch(new RegExp(`app_build_info\\{version="${version.replace(/\./g, '\\.')}",commit="[^"]+"\\} 1`));
    expect(text).toMatch(/^redis_up 1$/m);
    expect(text).toMatch(/^postgres_up 1$/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
  });

  it('the exposition passes promtool check metrics', async () => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metrics-')), 'metrics.txt');
    fs.writeFileSync(file, text);
    // promtool exits non-zero and prints the problems when a metric breaks the naming rules.
    const out = execFileSync('sh', ['-c', `promtool check metrics < ${file} 2>&1; echo "exit=$?"`]).toString();
    expect(out.trim()).toBe('exit=0');
  });
});

describe('admin token', () => {
  it('is not echoed anywhere in the logs of this instance', () => {
    expect(svc.logText()).not.toContain(ADMIN_TOKEN);
  });
});
