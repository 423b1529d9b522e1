/**
 * Liveness, readiness and version. Readiness needs PostgreSQL (nothing can be acknowledged without
 * it); a Redis outage only degrades rate limiting, so the instance stays in service and says so.
 */
import { Router } from 'express';
import type { Pool } from 'pg';
import type { Redis } from 'ioredis';
import { commit, version } from '../version';

export interface HealthDeps {
  pool: Pool;
  redis: Redis;
  timeoutMs: number;
  isShuttingDown: () => boolean;
}

export type CheckResult = { ok: true } | { ok: false; error: string };

async function check(timeoutMs: number, probe: () => Promise<unknown>): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([probe(), timeout]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message || String(err) };
  } finally {
    clearTimeout(timer);
  }
}

export const checkPostgres = (pool: Pool, timeoutMs: number) => check(timeoutMs, () => pool.query('SELECT 1'));
export const checkRedis = (redis: Redis, timeoutMs: number) => check(timeoutMs, () => redis.ping());

export function healthRouter(deps: HealthDeps): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    const [postgres, redis] = await Promise.all([checkPostgres(deps.pool, deps.timeoutMs), checkRedis(deps.redis, deps.timeoutMs)]);
    const failing: string[] = [];
    if (deps.isShuttingDown()) failing.push('shutting down');
    if (!postgres.ok) failing.push(`postgres: ${postgres.error}`);
    const degraded = redis.ok ? [] : [`redis: ${redis.error} (rate limiting falls back to in-process limits)`];
    const status = failing.length ? 'unavailable' : degraded.length ? 'degraded' : 'ready';
    res
      .status(failing.length ? 503 : 200)
      .set(failing.length ? { 'Retry-After': '5' } : {})
      .json({ status, failing, degraded, checks: { postgres: postgres.ok ? 'ok' : 'failing', redis: redis.ok ? 'ok' : 'failing' } });
  });

  router.get('/version', (_req, res) => {
    res.json({ version, commit });
  });

  return router;
}
