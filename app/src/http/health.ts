/**
 * Liveness, readiness and version. Readiness needs PostgreSQL (nothing can be acknowledged without
 * it); a Redis outage only degrades rate limiting, so the instance stays in service and says so.
 *
 * Dependencies are probed on a timer over a connection of their own, never through the pool that
 * flushes use: probes and scrapes read the cached state, so a burst of them costs the database
 * nothing. Answers name the failing dependency only; the driver's error text (addresses, ports)
 * goes to the log.
 */
import { Router } from 'express';
import { Client, type ClientConfig } from 'pg';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger';
import { commit, version } from '../version';
import { mount } from './mount';
import { ROUTES } from './route-table';

export interface ProbeState {
  postgres: boolean;
  redis: boolean;
  /** When the last probe finished (ms since the epoch); 0 before the first. */
  checkedAt: number;
}

function withTimeout<T>(timeoutMs: number, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([run(), timeout]).finally(() => clearTimeout(timer));
}

export class DependencyProbe {
  private state: ProbeState = { postgres: false, redis: false, checkedAt: 0 };
  private client?: Client;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly pg: ClientConfig,
    private readonly redis: Redis,
    private readonly opts: { intervalMs: number; timeoutMs: number },
    private readonly logger: Logger,
  ) {}

  /** Probes once now, then every interval. Resolves after the first probe. */
  async start(): Promise<ProbeState> {
    if (this.redis.status !== 'ready') {
      // Redis connects in the background at start: give it the probe's time before judging it.
      await withTimeout(this.opts.timeoutMs, () => new Promise((resolve) => this.redis.once('ready', resolve))).catch(() => undefined);
    }
    await this.probe();
    const loop = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.probe().then(loop), this.opts.intervalMs);
    };
    loop();
    return this.state;
  }

  /** The last probe's result; a probe that stopped reporting counts as failing. */
  current(now = Date.now()): ProbeState {
    const stale = now - this.state.checkedAt > 2 * (this.opts.intervalMs + this.opts.timeoutMs);
    return stale ? { postgres: false, redis: false, checkedAt: this.state.checkedAt } : this.state;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.client?.end().catch(() => undefined);
  }

  private async probe(): Promise<void> {
    const [postgres, redis] = await Promise.all([this.probePostgres(), this.probeRedis()]);
    if (postgres !== this.state.postgres && this.state.checkedAt) this.logger.info({ postgres }, 'PostgreSQL readiness changed');
    this.state = { postgres, redis, checkedAt: Date.now() };
  }

  private async probePostgres(): Promise<boolean> {
    try {
      await withTimeout(this.opts.timeoutMs, async () => {
        if (!this.client) {
          const client = new Client({ ...this.pg, application_name: 'event-service-probe' });
          // A dropped connection must not crash the process; the next probe reconnects.
          client.on('error', () => undefined);
          this.client = client;
          await client.connect();
        }
        await this.client.query('SELECT 1');
      });
      return true;
    } catch (err) {
      if (this.state.postgres || !this.state.checkedAt) this.logger.warn({ err: (err as Error).message }, 'PostgreSQL probe failed');
      const broken = this.client;
      this.client = undefined;
      void broken?.end().catch(() => undefined);
      return false;
    }
  }

  private async probeRedis(): Promise<boolean> {
    try {
      await withTimeout(this.opts.timeoutMs, () => this.redis.ping());
      return true;
    } catch {
      return false;
    }
  }
}

export interface HealthDeps {
  probe: DependencyProbe;
  isShuttingDown: () => boolean;
}

export function healthRouter(deps: HealthDeps): Router {
  const router = Router();

  mount(router, ROUTES.healthz, (_req, res) => {
    res.json({ status: 'ok' });
  });

  mount(router, ROUTES.readyz, (_req, res) => {
    const state = deps.probe.current();
    const failing: string[] = [];
    if (deps.isShuttingDown()) failing.push('shutting down');
    if (!state.postgres) failing.push('postgres: not answering');
    const degraded = state.redis ? [] : ['redis: not answering (rate limiting falls back to in-process limits)'];
    const status = failing.length ? 'unavailable' : degraded.length ? 'degraded' : 'ready';
    res
      .status(failing.length ? 503 : 200)
      .set(failing.length ? { 'Retry-After': '5' } : {})
      .json({ status, failing, degraded, checks: { postgres: state.postgres ? 'ok' : 'failing', redis: state.redis ? 'ok' : 'failing' } });
  });

  mount(router, ROUTES.version, (_req, res) => {
    res.json({ version, commit });
  });

  return router;
}
