import { createSensor, startTestService } from '../helpers';
import { expectFair, oneEvent, underAttack } from './load';

describe('body slots', () => {
  it('when four sensors hold every body slot with slow uploads, then another sensor still gets its events in and the four get 429', async () => {
    const svc = await startTestService({ INGEST_BODIES_MAX: '64', INGEST_BODIES_PER_SENSOR: '16', LOG_LEVEL: 'warn' });
    try {
      const legit = await createSensor(svc.url);
      const attackers = await Promise.all(Array.from({ length: 4 }, () => createSensor(svc.url)));
      const run = await underAttack({
        legit: oneEvent(svc.url, legit.token),
        // 16 connections a sensor, each announcing 100,000 bytes and sending 12 (the report's attack).
        attack: { kind: 'slow-body', url: svc.url, tokens: attackers.map((a) => a.token), contentLength: 100000, connections: 16 },
      });
      // 0: an upload whose connection closed without an answer (given up, or cut by the server): never a 5xx.
      expectFair(run, 202, [0]);
    } finally {
      await svc.shutdown();
    }
  });
});
