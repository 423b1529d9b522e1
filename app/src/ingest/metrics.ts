/** Metrics of the ingest path (names are the contract dashboards/ and alerts/ are tested against). */
import type { Pool } from 'pg';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const OTHER_TYPE = 'other';

/** `labelledTypes`: the operator's list of event types with a label of their own (METRIC_EVENT_TYPES). */
export function createIngestMetrics(registry: Registry, labelledTypes: readonly string[]) {
  const registers = [registry];
  const ingested = new Counter({
    name: 'events_ingested_total',
    help: 'Events stored, by type (the types listed in METRIC_EVENT_TYPES; every other type is counted as "other").',
    labelNames: ['type'] as const,
    registers,
  });
  const rejected = new Counter({
    name: 'events_rejected_total',
    help: 'Events (or requests, when their events cannot be counted) refused, by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const duplicates = new Counter({
    name: 'events_duplicates_total',
    help: 'Events already stored earlier (acknowledged, not stored again).',
    registers,
  });
  const flushDuration = new Histogram({
    name: 'ingest_flush_duration_seconds',
    help: 'Time of one group-commit flush (its transaction, COMMIT included).',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const flushRows = new Histogram({
    name: 'ingest_flush_rows',
    help: 'Events per flush.',
    buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    registers,
  });
  const flushFailures = new Counter({
    name: 'ingest_flush_failures_total',
    help: 'Flushes that failed (their requests got 503 or 400).',
    registers,
  });
  const queueMaxRows = new Gauge({
    name: 'ingest_queue_max_rows',
    help: 'Configured bound of the ingest queue (INGEST_QUEUE_MAX_ROWS).',
    registers,
  });
  let queueState = () => ({ rows: 0, bytes: 0 });
  new Gauge({
    name: 'ingest_queue_rows',
    help: 'Events queued or being flushed.',
    registers,
    collect() {
      this.set(queueState().rows);
    },
  });
  new Gauge({
    name: 'ingest_queue_bytes',
    help: 'Payload bytes queued or being flushed.',
    registers,
    collect() {
      this.set(queueState().bytes);
    },
  });
  const rateLimitFallback = new Counter({
    name: 'rate_limit_fallback_total',
    help: 'Rate-limit decisions taken in-process because Redis was unavailable.',
    registers,
  });

  const knownTypes = new Set(labelledTypes);
  return {
    ingested,
    rejected,
    duplicates,
    flushDuration,
    flushRows,
    flushFailures,
    queueMaxRows,
    rateLimitFallback,
    observeQueue(fn: () => { rows: number; bytes: number }) {
      queueState = fn;
    },
    /** Bounded label set, chosen by the operator: a sensor sending made-up types cannot take label values. */
    countIngested(type: string, count = 1) {
      ingested.inc({ type: knownTypes.has(type) ? type : OTHER_TYPE }, count);
    },
  };
}

export type IngestMetrics = ReturnType<typeof createIngestMetrics>;

/** Connection pool gauges: saturation = in use / max, and requests waiting for a connection. */
export function registerPoolMetrics(registry: Registry, pool: Pool, max: number): void {
  const registers = [registry];
  new Gauge({
    name: 'db_pool_connections_in_use',
    help: 'PostgreSQL connections checked out of the pool.',
    registers,
    collect() {
      this.set(pool.totalCount - pool.idleCount);
    },
  });
  new Gauge({
    name: 'db_pool_connections_waiting',
    help: 'Queries waiting for a free pool connection.',
    registers,
    collect() {
      this.set(pool.waitingCount);
    },
  });
  new Gauge({ name: 'db_pool_connections_max', help: 'Configured pool size (DB_POOL_MAX).', registers }).set(max);
}
