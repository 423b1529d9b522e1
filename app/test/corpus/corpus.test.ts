/**
 * The bad-input corpus (bad-inputs.json), data-driven: every case must get its 4xx and error code
 * with a machine-readable JSON body, never a 5xx; nothing from a rejected request may be stored;
 * and the service must still be healthy afterwards.
 */
import { Client } from 'pg';
import { writeResult } from '../faults/results';
import { ADMIN_TOKEN, createSensor, CreatedSensor, getJson, postEvents, startTestService, TestService } from '../helpers';
import corpus from './bad-inputs.json';
import { Answer, CorpusCase, send, sendRaw } from './send';

const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
/** Node checks the timeouts of open connections once a second (app.ts); the rest is scheduling slack. */
const SLOW_CLIENT_SLACK_MS = 1000 + 1500;

const cases = corpus.cases as CorpusCase[];
const accepted = corpus.accepted as CorpusCase[];
const answers: Array<{ name: string; status: number }> = [];

let svc: TestService;
let sensor: CreatedSensor;
beforeAll(async () => {
  svc = await startTestService({
    HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
  });
  sensor = await createSensor(svc.url, 'corpus');
});
afterAll(async () => {
  await svc?.shutdown();
});

async function ask(c: CorpusCase): Promise<Answer> {
  const answer = c.request.kind
    ? await sendRaw(svc.url, c.request, sensor.token)
    : await send(svc.url, c.request, { sensor: sensor.token, admin: ADMIN_TOKEN });
  answers.push({ name: c.name, status: answer.status });
  return answer;
}

async function storedIds(table: 'events' | 'event_ids'): Promise<string[]> {
  const client = new Client({ connectionString: process.env.TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ event_id: string }>(`SELECT event_id FROM ${table} WHERE sensor_id = $1 ORDER BY event_id`, [
      sensor.sensorId,
    ]);
    return rows.map((r) => r.event_id);
  } finally {
    await client.end();
  }
}

describe('bad-input corpus', () => {
  it('holds at least 40 cases, each with a unique name and an expected 4xx and error code', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    for (const c of cases)
      expect({ name: c.name, status: c.expect.status >= 400 && c.expect.status < 500, code: typeof c.expect.code }).toEqual({
        name: c.name,
        status: true,
        code: 'string',
      });
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s → the expected 4xx with a JSON error body', async (_name, c) => {
    const answer = await ask(c);
    let body: any;
    try {
      body = JSON.parse(answer.text);
    } catch {
      body = { unparsed: answer.text.slice(0, 200) };
    }
    expect({ status: answer.status, code: body?.error?.code }).toEqual({ status: c.expect.status, code: c.expect.code });
    expect(answer.contentType).toMatch(/^application\/json/);
    expect(body.error).toEqual(expect.objectContaining({ message: expect.any(String), requestId: expect.any(String) }));
    if (c.request.kind === 'slow-headers') expect(answer.ms).toBeLessThanOrEqual(HEADERS_TIMEOUT_MS + SLOW_CLIENT_SLACK_MS);
    if (c.request.kind === 'slow-body') expect(answer.ms).toBeLessThanOrEqual(REQUEST_TIMEOUT_MS + SLOW_CLIENT_SLACK_MS);
  });

  it.each(accepted.map((c) => [c.name, c] as const))('%s → 202', async (_name, c) => {
    const answer = await ask(c);
    expect({ status: answer.status, body: JSON.parse(answer.text) }).toEqual({ status: 202, body: { accepted: 1, duplicates: 0 } });
  });

  it('stored nothing from any rejected request: only the accepted edge cases are in the database', async () => {
    const expected = accepted
      .map((c) =>
        String(
          (c.request.bodyJson as { id?: string })?.id ??
            /"id":"([0-9a-f-]{36})"/.exec(c.request.body ?? Buffer.from(c.request.bodyBase64 ?? '', 'base64').toString())?.[1],
        ),
      )
      .sort();
    expect(await storedIds('events')).toEqual(expected);
    expect(await storedIds('event_ids')).toEqual(expected);
  });

  it('leaves the service healthy: /healthz and /readyz are 200 and a good event is still accepted', async () => {
    expect((await getJson(`${svc.url}/healthz`)).status).toBe(200);
    expect((await getJson(`${svc.url}/readyz`)).status).toBe(200);
    expect((await postEvents(svc.url, sensor.token, { type: 't', payload: { after: 'corpus' } })).status).toBe(202);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).not.toMatch(/^http_requests_total\{[^}]*code="5\d\d"[^}]*\} [1-9]/m);
    const fiveXX = answers.filter((a) => a.status >= 500);
    writeResult('corpus', {
      inputs: answers.length,
      rejectedCases: cases.length,
      acceptedCases: accepted.length,
      answered4xx: answers.filter((a) => a.status >= 400 && a.status < 500).length,
      answered5xx: fiveXX.length,
      storedFromRejected: 0,
    });
    expect(fiveXX).toEqual([]);
  });
});
