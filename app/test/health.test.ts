/**
 * Probes and scrapes cost the database nothing per request (the state is probed on a timer over a
 * connection of its own), and /readyz names what fails without internal addresses or driver text.
 */
import { Client } from 'pg';
import { freePort, waitFor } from '../../tools/stack/process';
import { getJson, startTestService } from './helpers';

describe('health and metrics', () => {
  it('when 200 scrapes and 50 readiness probes arrive at once, then none of them takes a connection from the pool flushes use', async () => {
    const svc = await startTestService({ LOG_LEVEL: 'warn' });
    try {
      const answers = await Promise.all([
        ...Array.from({ length: 200 }, () => fetch(`${svc.url}/metrics`).then(async (r) => [r.status, await r.text()] as const)),
        ...Array.from({ length: 50 }, () => fetch(`${svc.url}/readyz`).then(async (r) => [r.status, await r.text()] as const)),
      ]);
      expect(answers.filter(([status]) => status !== 200)).toEqual([]);
      expect(answers[0]![1]).toMatch(/^postgres_up 1$/m);
      // The pool keeps connections it opened for 30 s: any query through it would show here.
      expect({ total: svc.parts.pool.totalCount, waiting: svc.parts.pool.waitingCount }).toEqual({ total: 0, waiting: 0 });
      const db = new Client({ connectionString: svc.config.DATABASE_URL });
      await db.connect();
      try {
        const { rows } = await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'event-service-probe'`);
        expect(rows[0].n).toBeGreaterThanOrEqual(1);
      } finally {
        await db.end();
      }
    } finally {
      await svc.shutdown();
    }
  });

  it('when PostgreSQL is unreachable, then the start-up log warns, /readyz is 503 naming postgres, and its body carries no address or driver text', async () => {
    const port = await freePort();
    const svc = await startTestService({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/events`, READY_CHECK_TIMEOUT_MS: '500' });
    try {
      expect(svc.logs().some((l) => l.level === 'warn' && /PostgreSQL is not reachable at start/.test(String(l.msg)))).toBe(true);
      const ready = await getJson(`${svc.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.body.failing).toEqual(['postgres: not answering']);
      const text = JSON.stringify(ready.body);
      expect(text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|connect|${port}/);
      await waitFor('postgres_up 0', async () => /^postgres_up 0$/m.test(await (await fetch(`${svc.url}/metrics`)).text()), 5000, 100);
    } finally {
      await svc.shutdown();
    }
  });
});
