import net from 'node:net';
import { sleep } from '../../../tools/stack/process';
import { createSensor, startTestService, TestService } from '../helpers';
import { expectFair, oneEvent, underAttack } from './load';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ LOG_LEVEL: 'info', LOG_CLIENT_ERRORS_PER_S: '5' });
});
afterAll(async () => {
  await svc.shutdown();
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
}

describe('abuse through the log', () => {
  it('when an unauthenticated client sends 16 KB query strings, then the legit sensor is served as before, the attacker gets 404, and no logged URL is long', async () => {
    const sensor = await createSensor(svc.url);
    const run = await underAttack({
      legit: oneEvent(svc.url, sensor.token),
      // At the rate of the report (131 a second took the legit sensor from 200 requests a second to 1).
      attack: { kind: 'http', url: `${svc.url}/x?${'a&'.repeat(8100)}`, connections: 4, perSecond: 130 },
    });
    expectFair(run);
    const urls = svc.logs().map((l) => (l.req as { url?: string } | undefined)?.url ?? '');
    expect(urls.filter((u) => u.startsWith('/x?'))).not.toEqual([]);
    expect(Math.max(...urls.map((u) => u.length))).toBeLessThanOrEqual(300);
  });

  it('when clients cause more 4xx than LOG_CLIENT_ERRORS_PER_S, then the lines over the budget are counted, not written', async () => {
    const before = await metric('log_lines_suppressed_total');
    const written = () => svc.logs().filter((l) => (l.req as { url?: string } | undefined)?.url === '/missing-page').length;
    const start = Date.now();
    const statuses = await Promise.all(Array.from({ length: 200 }, async () => (await fetch(`${svc.url}/missing-page`)).status));
    const seconds = Math.ceil((Date.now() - start) / 1000);
    expect(new Set(statuses)).toEqual(new Set([404]));
    // Bursts of 5, then 5 a second: however fast the 200 came, at most 5 per started second plus the burst.
    expect(written()).toBeLessThanOrEqual(5 * (seconds + 1));
    expect(written() + (await metric('log_lines_suppressed_total')) - before).toBe(200);
  });

  it('when clients disconnect in the middle of their headers, then no line is written for them', async () => {
    await sleep(1100); // a full budget, so that any line written would show
    const linesBefore = svc.logs().length;
    const { port } = new URL(svc.url);
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(Number(port), '127.0.0.1', () => {
          socket.end('POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Le');
        });
        socket.setTimeout(2000, () => socket.destroy());
        socket.on('close', () => resolve());
        socket.on('error', () => undefined);
      });
    }
    expect(svc.logs().slice(linesBefore)).toEqual([]);
  });
});
