import fs from 'node:fs';
import path from 'node:path';
import { runMigrations } from '../../src/db/migrate';
import { freePort, waitFor } from '../../../tools/stack/process';
import { PostgresServer } from '../../../tools/stack/services';
import { createSensor, getJson, postEvents, startTestService } from '../helpers';

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
}

describe('a stalled PostgreSQL', () => {
  it('when PostgreSQL stops answering and /readyz already says so, then ingest answers 503 unavailable without queueing anything', async () => {
    // A PostgreSQL of this test's own: the harness's is shared with every other test.
    const pg = new PostgresServer({
      dir: fs.mkdtempSync(path.join(process.env.TEST_STACK_DIR as string, 'pg-')),
      port: await freePort(),
      fast: true,
    });
    await pg.start();
    await runMigrations(pg.url, { quiet: true });
    const svc = await startTestService({
      DATABASE_URL: pg.url,
      SENSOR_CACHE_TTL_MS: '600000',
      READY_PROBE_INTERVAL_MS: '200',
      READY_CHECK_TIMEOUT_MS: '300',
      LOG_LEVEL: 'warn',
    });
    try {
      const sensor = await createSensor(svc.url);
      expect((await postEvents(svc.url, sensor.token, { type: 't', payload: {} })).status).toBe(202);
      pg.pause();
      await waitFor('/readyz to be 503', async () => (await getJson(`${svc.url}/readyz`)).status === 503, 10000, 100);
      const failedFlushes = await metric(svc.url, 'ingest_flush_failures_total');
      const answers = await Promise.all(Array.from({ length: 10 }, () => postEvents(svc.url, sensor.token, { type: 't', payload: {} })));
      expect(answers.map((a) => [a.status, a.body.error.code, a.headers.get('retry-after')])).toEqual(
        Array(10).fill([503, 'unavailable', '2']),
      );
      // Refused before the queue: no flush tried (and timed out) on their behalf.
      expect(await metric(svc.url, 'ingest_flush_failures_total')).toBe(failedFlushes);
      pg.resume();
      await waitFor('/readyz to be 200 again', async () => (await getJson(`${svc.url}/readyz`)).status === 200, 10000, 100);
      expect((await postEvents(svc.url, sensor.token, { type: 't', payload: {} })).status).toBe(202);
    } finally {
      pg.resume();
      await svc.shutdown();
      await pg.stop();
    }
  });
});
