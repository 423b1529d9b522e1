/**
 * UTF-8 JSON bodies without a content coding are read by the service's own reader, everything else by
 * body-parser: both must answer alike, over real HTTP, whatever the chunking.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { readUtf8Json } from '../src/http/json-reader';
import { bearer, createSensor, CreatedSensor, startTestService, storedEvents, TestService } from './helpers';

let svc: TestService;
let sensor: CreatedSensor;
const db = () => process.env.TEST_DATABASE_URL as string;

beforeAll(async () => {
  svc = await startTestService({ BODY_LIMIT_BYTES: '4096' });
});
afterAll(() => svc.shutdown());
beforeEach(async () => {
  sensor = await createSensor(svc.url);
});

/** Sends `chunks` one write each (chunked transfer unless a Content-Length is given) over one keep-alive connection. */
function send(chunks: Buffer[], headers: Record<string, string>, agent?: http.Agent): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${svc.url}/api/v1/events`,
      { method: 'POST', agent, headers: { ...bearer(sensor.token), 'Content-Type': 'application/json', ...headers } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    void (async () => {
      for (const chunk of chunks) {
        req.write(chunk);
        await new Promise((r) => setTimeout(r, 5));
      }
      req.end();
    })();
  });
}

describe('reading JSON bodies', () => {
  it('when a UTF-8 body starts with a byte-order mark and splits characters across chunks, then it is stored intact', async () => {
    const event = { id: randomUUID(), type: 't', payload: { text: 'ünïcödé ✓ 🌡' } };
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(event))]);
    const at = bytes.indexOf(Buffer.from('🌡')) + 2; // inside the 4-byte character
    const res = await send([bytes.subarray(0, at), bytes.subarray(at)], { 'Content-Type': 'application/json; charset=UTF-8' });
    expect(res).toMatchObject({ status: 202, body: { accepted: 1 } });
    expect((await storedEvents(db(), sensor.sensorId))[0]?.payload).toEqual(event.payload);
  });

  it('when a chunked body grows past the limit, then 413 payload_too_large, and the connection still serves the next request', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const big = Buffer.from(JSON.stringify({ type: 't', payload: { blob: 'x'.repeat(5000) } }));
      const refused = await send([big.subarray(0, 2000), big.subarray(2000)], {}, agent);
      expect(refused).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large' } } });
      const next = await send([Buffer.from(JSON.stringify({ type: 't', payload: {} }))], {}, agent);
      expect(next).toMatchObject({ status: 202, body: { accepted: 1 } });
    } finally {
      agent.destroy();
    }
  });

  it('when the body is shorter than its Content-Length says and the client gives up, then nothing is stored', async () => {
    const body = Buffer.from(JSON.stringify({ type: 't', payload: {} }));
    await new Promise<void>((resolve) => {
      const req = http.request(`${svc.url}/api/v1/events`, {
        method: 'POST',
        headers: { ...bearer(sensor.token), 'Content-Type': 'application/json', 'Content-Length': String(body.length + 10) },
      });
      req.on('error', () => resolve());
      req.write(body);
      setTimeout(() => req.destroy(), 100);
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(await storedEvents(db(), sensor.sensorId)).toHaveLength(0);
  });

  it('when a body comes in UTF-16, then body-parser still decodes it and the event is stored', async () => {
    const event = { type: 't', payload: { text: 'ünïcödé' } };
    const res = await send([Buffer.from(JSON.stringify(event), 'utf16le')], { 'Content-Type': 'application/json; charset=utf-16le' });
    expect(res).toMatchObject({ status: 202, body: { accepted: 1 } });
    expect((await storedEvents(db(), sensor.sensorId))[0]?.payload).toEqual(event.payload);
  });

  it('when given a verify hook, then it sees the raw bytes before decoding, and what it throws refuses the body', async () => {
    const seen: string[] = [];
    const app = express();
    app.post('/', (req, res) =>
      readUtf8Json(
        req,
        res,
        {
          limit: 1000,
          verify: (_req, _res, body, encoding) => {
            seen.push(`${encoding}:${body.toString('hex')}`);
            if (body.includes('refuse')) throw new Error('refused by verify');
          },
        },
        (err, body) => res.json(err ? { error: err.message } : { body }),
      ),
    );
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const post = async (body: Buffer) => (await fetch(url, { method: 'POST', body })).json();
      await expect(post(Buffer.from('\ufeff{"a":1}'))).resolves.toEqual({ body: { a: 1 } });
      await expect(post(Buffer.from('{"refuse":1}'))).resolves.toEqual({ error: 'refused by verify' });
      expect(seen).toEqual([
        `utf-8:${Buffer.from('\ufeff{"a":1}').toString('hex')}`,
        `utf-8:${Buffer.from('{"refuse":1}').toString('hex')}`,
      ]);
    } finally {
      server.close();
    }
  });
});
