/**
 * Cheap requests still pay, and one sensor cannot exhaust memory: every request costs a rate-limit
 * unit, a sensor over its budget is refused before its body is read, bodies in flight are bounded per
 * sensor and per instance, and the queue's byte bound counts the UTF-8 bytes it holds.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import Redis from 'ioredis';
import { Client } from 'pg';
import { loadConfig } from '../src/config';
import { rateLimitBlock } from '../src/ingest/rate-limit';
import { writeResult } from './faults/results';
import { bearer, createSensor, freshDatabase, postEvents, startTestService, testEnv } from './helpers';

const MB = 1024 * 1024;

/** An upload that announces `length` bytes but sends only `sent` of them; `answer` resolves with the status if the server answers. */
function partialUpload(url: string, token: string, length: number, sent: number) {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  const started = Date.now();
  socket.on('error', () => undefined); // the server may close on us mid-write: that is the point
  const answer = new Promise<{ status: number; ms: number; head: string }>((resolve) => {
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString();
      const end = text.indexOf('\r\n\r\n');
      if (end >= 0) resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), ms: Date.now() - started, head: text.slice(0, end) });
    });
  });
  socket.write(
    `POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${bearer(token).Authorization}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{"type":"t","payload":{"pad":"${'x'.repeat(Math.max(0, sent - 30))}`,
  );
  return { socket, answer };
}

/** Whether `answer` settled within `ms`. */
async function answeredWithin<T>(answer: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const none = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([answer, none]);
  } finally {
    clearTimeout(timer);
  }
}

describe('cheap requests pay', () => {
  it('when a sensor sends requests that carry no events but large padding, then each costs a unit and it gets 429 past its limit', async () => {
    const svc = await startTestService({ RATE_LIMIT_EVENTS: '10', REDIS_COMMAND_TIMEOUT_MS: '5000' });
    try {
      const s = await createSensor(svc.url);
      const padded = JSON.stringify({ events: [], pad: 'x'.repeat(900 * 1024) });
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) statuses.push((await postEvents(svc.url, s.token, padded)).status);
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(400));
      expect(statuses.slice(10)).toEqual(Array(30).fill(429));
    } finally {
      await svc.shutdown();
    }
  });

  it('when a sensor over its budget starts an upload, then it gets 429 with Retry-After at once, before sending its body', async () => {
    const svc = await startTestService({ RATE_LIMIT_EVENTS: '2', REDIS_COMMAND_TIMEOUT_MS: '5000' });
    try {
      const s = await createSensor(svc.url);
      expect(
        (
          await postEvents(svc.url, s.token, {
            events: [
              { type: 't', payload: {} },
              { type: 't', payload: {} },
            ],
          })
        ).status,
      ).toBe(202);
      const upload = partialUpload(svc.url, s.token, 900 * 1024, 100);
      const answer = await answeredWithin(upload.answer, 2000);
      upload.socket.destroy();
      expect(answer?.status).toBe(429);
      expect(answer?.head).toMatch(/^retry-after: \d+$/im);
      expect(answer?.head).toMatch(/^connection: close$/im);
    } finally {
      await svc.shutdown();
    }
  });
});

describe('bodies in flight', () => {
  it('when a sensor holds more unfinished uploads than allowed, then the extra ones get 429 and, past the instance bound, others get 503, both with Retry-After', async () => {
    const svc = await startTestService({ INGEST_BODIES_PER_SENSOR: '4', INGEST_BODIES_MAX: '6' });
    const uploads: Array<ReturnType<typeof partialUpload>> = [];
    try {
      const [a, b] = [await createSensor(svc.url), await createSensor(svc.url)];
      for (let i = 0; i < 6; i++) uploads.push(partialUpload(svc.url, a.token, 100_000, 1000));
      const aAnswers = await Promise.all(uploads.map((u) => answeredWithin(u.answer, 1500)));
      const statuses = (answers: Array<{ status: number } | undefined>) => answers.map((x) => x?.status ?? 'held').sort();
      expect(statuses(aAnswers)).toEqual([429, 429, 'held', 'held', 'held', 'held']);
      const bUploads = [0, 1, 2].map(() => partialUpload(svc.url, b.token, 100_000, 1000));
      uploads.push(...bUploads);
      const bAnswers = await Promise.all(bUploads.map((u) => answeredWithin(u.answer, 1500)));
      expect(statuses(bAnswers)).toEqual([503, 'held', 'held']);
      expect(bAnswers.find((x) => x)?.head).toMatch(/^retry-after: 1$/im);
      expect(await (await fetch(`${svc.url}/metrics`)).text()).toMatch(/^ingest_bodies_in_flight 6$/m);

      // Abandoned uploads give their slots back.
      for (const u of uploads.splice(0, 6)) u.socket.destroy();
      await new Promise((r) => setTimeout(r, 200));
      expect((await postEvents(svc.url, a.token, { type: 't', payload: {} })).status).toBe(202);
    } finally {
      for (const u of uploads) u.socket.destroy();
      await svc.shutdown();
    }
  });

  it('when one sensor starts 120 unfinished 1 MB uploads, then only INGEST_BODIES_PER_SENSOR are held and the rest get 429 at once', async () => {
    const svc = await startTestService({ LOG_LEVEL: 'warn' });
    const uploads: Array<ReturnType<typeof partialUpload>> = [];
    try {
      const s = await createSensor(svc.url);
      for (let i = 0; i < 120; i++) uploads.push(partialUpload(svc.url, s.token, MB, MB - 1000));
      const answers = await Promise.all(uploads.map((u) => answeredWithin(u.answer, 3000)));
      const held = answers.filter((x) => x === undefined).length;
      const refused = answers.filter((x) => x?.status === 429).length;
      writeResult('slow-uploads', {
        uploads: 120,
        held,
        refused429: refused,
        perSensorBound: svc.config.INGEST_BODIES_PER_SENSOR,
        heldBodiesAtMostMB: (held * svc.config.BODY_LIMIT_BYTES) / MB,
      });
      expect({ held, refused }).toEqual({ held: svc.config.INGEST_BODIES_PER_SENSOR, refused: 120 - svc.config.INGEST_BODIES_PER_SENSOR });
    } finally {
      for (const u of uploads) u.socket.destroy();
      await svc.shutdown();
    }
  });
});

describe('queue byte bound', () => {
  it('when queued payloads are multi-byte text, then the bound counts their UTF-8 bytes, not their UTF-16 length', async () => {
    const db = await freshDatabase();
    const svc = await startTestService({ DATABASE_URL: db, INGEST_QUEUE_MAX_BYTES: '4096', INGEST_FLUSH_MS: '0' });
    const locker = new Client({ connectionString: db });
    await locker.connect();
    try {
      const s = await createSensor(svc.url);
      // Hold every flush, so the first request stays queued while the second arrives.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
      const first = postEvents(svc.url, s.token, { type: 't', payload: { a: 1 } });
      await new Promise((r) => setTimeout(r, 300));
      // 1360 '€': 1 UTF-16 unit but 3 UTF-8 bytes each, so 4080 bytes + the first request's: over 4096.
      const second = postEvents(svc.url, s.token, { type: 't', payload: { euro: '€'.repeat(1360) } });
      await new Promise((r) => setTimeout(r, 300));
      await locker.query('COMMIT');
      expect((await first).status).toBe(202);
      expect(await second).toMatchObject({ status: 503, body: { error: { code: 'queue_full' } } });
    } finally {
      await locker.end();
      await svc.shutdown();
    }
  });
});

describe('Redis round trips of the rate limit', () => {
  it('when RATE_LIMIT_BLOCK is left empty, then an instance reserves 1 % of the limit at once (at least 1 unit); a set block is kept', () => {
    const block = (env: Record<string, string>) => rateLimitBlock(loadConfig(testEnv(env)));
    expect(block({ RATE_LIMIT_EVENTS: '6000' })).toBe(60);
    expect(block({ RATE_LIMIT_EVENTS: '100000' })).toBe(1000);
    expect(block({ RATE_LIMIT_EVENTS: '30' })).toBe(1);
    expect(block({ RATE_LIMIT_EVENTS: '100000', RATE_LIMIT_BLOCK: '50' })).toBe(50);
    expect(() => loadConfig(testEnv({ RATE_LIMIT_BLOCK: '0' }))).toThrow(/RATE_LIMIT_BLOCK/);
  });

  it('when a sensor with a generous limit sends 100-event batches, then the instance asks Redis once per block, not once per request', async () => {
    const svc = await startTestService({ RATE_LIMIT_EVENTS: '100000' });
    const redis = new Redis(process.env.TEST_REDIS_URL!);
    const monitor = await redis.monitor(); // a connection of its own
    try {
      const sensor = await createSensor(svc.url);
      const key = `rl:sensor:${sensor.sensorId}`;
      let reservations = 0;
      monitor.on('monitor', (_time: string, args: string[]) => {
        if (args[0]?.toLowerCase() === 'incrby' && args[1] === key) reservations++; // run by the reservation script
      });
      const now = new Date().toISOString();
      for (let i = 0; i < 20; i++) {
        const events = Array.from({ length: 100 }, (_, j) => ({ id: randomUUID(), type: 'reading', ts: now, payload: { i, j } }));
        expect((await postEvents(svc.url, sensor.token, { events })).status).toBe(202);
      }
      await new Promise((resolve) => setTimeout(resolve, 200)); // the monitor feed trails the replies
      // 20 requests of 100 units (a request costs its events, at least one) = 2000 units: 2 blocks of 1000.
      // With the former fixed block of 50: 40 (each request reserved twice, for its first unit and for the rest).
      expect(reservations).toBe(2);
    } finally {
      monitor.disconnect();
      redis.disconnect();
      await svc.shutdown();
    }
  });
});
