/**
 * Per-sensor rate limits, shared across instances through Redis. When Redis is down or slow the
 * decision is taken in-process instead (fail open, per instance): Redis trouble never stops ingest.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../observability/logger';

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
}

export class SensorRateLimiter {
  private readonly shared: RateLimiterRedis;
  private readonly local: RateLimiterMemory;
  private lastWarn = 0;

  constructor(
    redis: Redis,
    private readonly opts: { points: number; durationS: number },
    private readonly onFallback: () => void,
    private readonly logger: Logger,
  ) {
    const common = { points: opts.points, duration: opts.durationS, keyPrefix: 'rl:sensor' };
    this.shared = new RateLimiterRedis({ ...common, storeClient: redis, rejectIfRedisNotReady: true });
    this.local = new RateLimiterMemory(common);
  }

  async consume(sensorId: string, points: number): Promise<RateDecision> {
    try {
      return this.decision(await this.shared.consume(sensorId, points), true);
    } catch (err) {
      if (err instanceof RateLimiterRes) return this.decision(err, false);
      this.onFallback();
      if (Date.now() - this.lastWarn > 10000) {
        this.lastWarn = Date.now();
        this.logger.warn({ err: (err as Error)?.message ?? String(err) }, 'Redis rate limiter unavailable; limiting in-process');
      }
      try {
        return this.decision(await this.local.consume(sensorId, points), true);
      } catch (localErr) {
        if (localErr instanceof RateLimiterRes) return this.decision(localErr, false);
        throw localErr;
      }
    }
  }

  private decision(res: RateLimiterRes, allowed: boolean): RateDecision {
    return { allowed, limit: this.opts.points, remaining: Math.max(0, res.remainingPoints), resetMs: res.msBeforeNext };
  }
}
