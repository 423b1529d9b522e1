import { gzipSync } from 'node:zlib';
import { bearer, createSensor, postEvents, startTestService, TestService } from '../helpers';
import { expectFair, oneEvent, underAttack } from './load';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ LOG_LEVEL: 'info', RATE_LIMIT_EVENTS: '100000' });
});
afterAll(async () => {
  await svc.shutdown();
});

/** 800 KB of `[[[…]]]`: JSON.parse spends about 350 ms on it; gzip shrinks it to about a kilobyte. */
const deepNesting = '['.repeat(400_000) + ']'.repeat(400_000);

describe('bodies that cost more than they say', () => {
  it('when a body is nested deeper than any valid event, then it gets 400 invalid_request naming the nesting, before it is parsed', async () => {
    const sensor = await createSensor(svc.url);
    const answer = await postEvents(svc.url, sensor.token, deepNesting);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({
      code: 'invalid_request',
      details: [{ path: '(body)', message: expect.stringMatching(/nested deeper than 11 levels/) }],
    });
    // The deepest valid batch (payload nested PAYLOAD_MAX_DEPTH = 8 levels) still passes.
    let payload: Record<string, unknown> = { v: 1 };
    for (let depth = 1; depth < 8; depth++) payload = { d: payload };
    expect((await postEvents(svc.url, sensor.token, { events: [{ type: 'deep', payload }] })).status).toBe(202);
  });

  it('when a sensor sends gzip-compressed deep nesting, then it gets 400 and the legit sensor is served as before', async () => {
    const [legit, attacker] = [await createSensor(svc.url), await createSensor(svc.url)];
    const run = await underAttack({
      legit: oneEvent(svc.url, legit.token),
      attack: {
        kind: 'http',
        url: `${svc.url}/api/v1/events`,
        method: 'POST',
        headers: { ...bearer(attacker.token), 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
        bodyBase64: gzipSync(deepNesting).toString('base64'),
        connections: 4,
        perSecond: 20,
      },
    });
    expectFair(run);
  });

  it('when a sensor sends large bodies with few events, then each is charged by its size and the sensor is rate-limited after a few', async () => {
    const limited = await startTestService({ LOG_LEVEL: 'info', RATE_LIMIT_EVENTS: '600', RATE_LIMIT_BYTES_PER_UNIT: '16384' });
    try {
      const sensor = await createSensor(limited.url);
      // 960 KB, one event: 59 units by size. It is refused (an unknown field), but only after being read.
      const body = JSON.stringify({ type: 't', payload: {}, padding: Array.from({ length: 960 }, () => 'a'.repeat(1000)) });
      const statuses: number[] = [];
      for (let i = 0; i < 30 && !statuses.includes(429); i++) statuses.push((await postEvents(limited.url, sensor.token, body)).status);
      expect(statuses.at(-1)).toBe(429);
      expect(statuses.slice(0, -1).every((s) => s === 400)).toBe(true);
      expect(statuses.length - 1).toBeLessThanOrEqual(Math.ceil(600 / 58));
    } finally {
      await limited.shutdown();
    }
  });
});
