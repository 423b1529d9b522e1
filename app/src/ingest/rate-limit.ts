/**
 * Per-sensor rate limits, shared across instances through Redis without a Redis round trip per
 * request: each instance reserves budget from the sensor's shared counter of the current window in
 * blocks (one INCRBY per RATE_LIMIT_BLOCK units, by default 1 % of the limit) and spends it locally.
 *
 * Tolerance across instances: the shared counter hands out at most RATE_LIMIT_EVENTS units per
 * window, so all instances together never admit more than the limit. Budget one instance reserved
 * and has not spent is not available to the others until the window ends, so a sensor may be
 * refused up to (instances − 1) × RATE_LIMIT_BLOCK units early.
 *
 * When Redis is down or slow the decision is taken in-process instead (fail open, per instance, the
 * full limit each): Redis trouble never stops ingest. A circuit breaker keeps that fast: after a failed
 * reservation, every decision is taken in-process until one probe, at most one per `retryMs`, gets an
 * answer from Redis. A stalled Redis (no answers, connection open) then costs one command timeout per
 * `retryMs`, paid by one request, instead of one per request.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';

/** Share of RATE_LIMIT_EVENTS reserved at once when RATE_LIMIT_BLOCK is empty. */
export const AUTO_BLOCK_SHARE = 0.01;

/**
 * The units reserved per Redis round trip: RATE_LIMIT_BLOCK, or 1 % of the limit. A fixed block is either
 * chatty for a generous limit (a 100-event batch against a block of 50 asks Redis on every request) or
 * coarse for a tight one; a share of the limit keeps both the cost and the error across instances
 * proportional to the limit.
 */
export function rateLimitBlock(config: Pick<Config, 'RATE_LIMIT_BLOCK' | 'RATE_LIMIT_EVENTS'>): number {
  return config.RATE_LIMIT_BLOCK === '' ? Math.max(1, Math.ceil(config.RATE_LIMIT_EVENTS * AUTO_BLOCK_SHARE)) : config.RATE_LIMIT_BLOCK;
}

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
}

/**
 * Adds to a sensor's shared counter and returns it with the window's remaining time; the window
 * starts at the sensor's first request (the key's expiry), like a fixed window per sensor.
 */
const RESERVE_LUA = `
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if total == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
return {total, ttl}`;

type Reserving = Redis & { reserveBudget(key: string, units: number, windowMs: number): Promise<[number, number]> };

interface Bucket {
  /** When the sensor's window ends (ms since the epoch): the bucket is void after that. */
  endsAt: number;
  /** Units reserved from Redis and not yet spent. */
  available: number;
  /** The shared counter as last seen: the sensor's spending across all instances. */
  sharedUsed: number;
  /** Redis said the window's budget is gone: no point in asking again before it ends. */
  exhausted: boolean;
  /** Units this instance spent in the window, however they were granted. */
  spent: number;
  /** One reservation at a time per sensor; concurrent requests wait for it instead of asking too. */
  reserving?: Promise<boolean>;
}

export class SensorRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly redis: Reserving;
  private readonly windowMs: number;
  private readonly block: number;
  private nextSweep = 0;
  private lastWarn = 0;
  /** The breaker: 0 while Redis answers; after a failure, when the next probe may ask it. */
  private redisRetryAt = 0;
  private probing = false;

  constructor(
    redis: Redis,
    private readonly opts: { points: number; durationS: number; block: number; retryMs: number },
    private readonly onFallback: () => void,
    private readonly logger: Logger,
  ) {
    if (!('reserveBudget' in redis)) redis.defineCommand('reserveBudget', { numberOfKeys: 1, lua: RESERVE_LUA });
    this.redis = redis as Reserving;
    this.windowMs = opts.durationS * 1000;
    this.block = Math.max(1, Math.min(opts.block, opts.points));
  }

  /** Spends `points` units if the sensor has them; otherwise spends nothing and refuses. */
  async consume(sensorId: string, points: number, now = Date.now()): Promise<RateDecision> {
    const bucket = this.bucket(sensorId, now);
    while (bucket.available < points && !bucket.exhausted) {
      if (this.redisRetryAt !== 0 && !this.takeProbe()) return this.local(bucket, points, now);
      if (bucket.reserving) await bucket.reserving;
      else {
        const need = Math.max(this.block, points - bucket.available);
        bucket.reserving = this.reserve(sensorId, bucket, need).finally(() => (bucket.reserving = undefined));
        if (!(await bucket.reserving)) return this.local(bucket, points, now);
      }
    }
    const allowed = bucket.available >= points;
    if (allowed) {
      bucket.available -= points;
      bucket.spent += points;
    }
    return this.decision(bucket, allowed, now);
  }

  /**
   * Charges work already done (a read's rows): spends what the sensor has, never refuses. Whatever
   * it could not pay makes the next requests wait for the next window.
   */
  async charge(sensorId: string, points: number, now = Date.now()): Promise<void> {
    if (points <= 0) return;
    const d = await this.consume(sensorId, points, now);
    if (!d.allowed) {
      const bucket = this.bucket(sensorId, now);
      bucket.available = 0;
      bucket.exhausted = true;
      bucket.spent = this.opts.points;
    }
  }

  private bucket(sensorId: string, now: number): Bucket {
    if (now >= this.nextSweep) {
      // Buckets of ended windows hold nothing any more: memory stays bounded by the sensors of one window.
      for (const [id, b] of this.buckets) if (b.endsAt <= now && !b.reserving) this.buckets.delete(id);
      this.nextSweep = now + this.windowMs;
    }
    let b = this.buckets.get(sensorId);
    if (!b || (b.endsAt <= now && !b.reserving)) {
      b = { endsAt: now + this.windowMs, available: 0, sharedUsed: 0, exhausted: false, spent: 0 };
      this.buckets.set(sensorId, b);
    }
    return b;
  }

  /** While the breaker is open: true for the one request that may probe Redis now. */
  private takeProbe(): boolean {
    if (this.probing || Date.now() < this.redisRetryAt) return false;
    this.probing = true;
    return true;
  }

  /** Reserves up to `units` from the shared counter; false when Redis could not be asked. */
  private async reserve(sensorId: string, bucket: Bucket, units: number): Promise<boolean> {
    try {
      const [after, ttlMs] = await this.redis.reserveBudget(`rl:sensor:${sensorId}`, units, this.windowMs);
      this.redisRetryAt = 0;
      this.probing = false;
      const endsAt = Date.now() + ttlMs;
      if (after === units && endsAt > bucket.endsAt) {
        // The shared window ended before this bucket thought: a new one started with this reservation.
        Object.assign(bucket, { available: 0, sharedUsed: 0, exhausted: false, spent: 0 });
      }
      bucket.endsAt = endsAt;
      const granted = Math.max(0, Math.min(units, this.opts.points - (after - units)));
      bucket.available += granted;
      bucket.sharedUsed = Math.min(after, this.opts.points);
      if (granted < units) bucket.exhausted = true;
      return true;
    } catch (err) {
      this.redisRetryAt = Date.now() + this.opts.retryMs;
      this.probing = false;
      if (Date.now() - this.lastWarn > 10000) {
        this.lastWarn = Date.now();
        this.logger.warn({ err: (err as Error)?.message ?? String(err) }, 'Redis rate limiter unavailable; limiting in-process');
      }
      return false;
    }
  }

  /** The in-process decision while Redis is unavailable: the full limit, on this instance alone. */
  private local(bucket: Bucket, points: number, now: number): RateDecision {
    this.onFallback();
    const allowed = bucket.spent + points <= this.opts.points;
    if (allowed) bucket.spent += points;
    return {
      allowed,
      limit: this.opts.points,
      remaining: Math.max(0, this.opts.points - bucket.spent),
      resetMs: Math.max(0, bucket.endsAt - now),
    };
  }

  private decision(bucket: Bucket, allowed: boolean, now: number): RateDecision {
    return {
      allowed,
      limit: this.opts.points,
      remaining: Math.max(0, this.opts.points - bucket.sharedUsed) + bucket.available,
      resetMs: Math.max(0, bucket.endsAt - now),
    };
  }
}
