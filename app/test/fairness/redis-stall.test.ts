import fs from 'node:fs';
import path from 'node:path';
import { freePort, sleep } from '../../../tools/stack/process';
import { RedisServer } from '../../../tools/stack/services';
import { createSensor, startTestService } from '../helpers';
import { expectLegitP50, oneEvent, sendFor, statusCounts } from './load';

async function fallbacks(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^rate_limit_fallback_total (\d+)$/m.exec(text)?.[1]);
}

describe('a stalled Redis', () => {
  it('when Redis stops answering (SIGSTOP), then single-event ingest keeps at least half its healthy throughput and a median under 50 ms (on a quiet machine), all 202, and uses Redis again once it answers', async () => {
    // A Redis of this test's own: the harness's is shared with every other test.
    const redis = new RedisServer({
      dir: fs.mkdtempSync(path.join(process.env.TEST_STACK_DIR as string, 'redis-')),
      port: await freePort(),
    });
    await redis.start();
    // A small block makes the limiter ask Redis every 20 requests, as a tight limit would.
    const svc = await startTestService({
      REDIS_URL: redis.url,
      RATE_LIMIT_EVENTS: '1000000',
      RATE_LIMIT_BLOCK: '20',
      REDIS_COMMAND_TIMEOUT_MS: '100',
      READY_PROBE_INTERVAL_MS: '1000',
      LOG_LEVEL: 'warn',
    });
    try {
      const sensor = await createSensor(svc.url);
      const send = oneEvent(svc.url, sensor.token);
      const healthy = await sendFor(1500, 4, send);
      redis.pause();
      const stalled = await sendFor(1500, 4, send);
      redis.resume();
      expect(statusCounts(healthy)).toEqual({ 202: healthy.length });
      expect(statusCounts(stalled)).toEqual({ 202: stalled.length });
      expect(stalled.length / healthy.length).toBeGreaterThanOrEqual(0.5);
      expectLegitP50(stalled, healthy);
      expect(await fallbacks(svc.url)).toBeGreaterThan(0);
      // Once Redis answers again, one probe closes the breaker: decisions go back to the shared counter.
      await sleep(1100);
      for (let i = 0; i < 25; i++) expect(await send()).toBe(202);
      const afterProbe = await fallbacks(svc.url);
      for (let i = 0; i < 50; i++) expect(await send()).toBe(202);
      expect(await fallbacks(svc.url)).toBe(afterProbe);
    } finally {
      redis.resume();
      await svc.shutdown();
      await redis.stop();
    }
  });
});
