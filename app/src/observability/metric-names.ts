/**
 * Every metric the stack's own code exports: its name, help and label names. Declared here, beside the code that
 * registers them (./metrics.ts, ../ingest/metrics.ts, ../jobs/maintenance.ts), because the image is built from app/
 * alone. The monitoring contract re-exports them (monitoring/src/metrics.ts): the rules, the dashboards and the
 * promotion gate build their PromQL from the same objects. No imports: the app's build reads nothing outside app/.
 */

export interface MetricSpec {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
}

/** The event service's own metrics (job APP_JOB); prom-client's default process and Node.js metrics come on top. */
export const SERVICE_METRICS = {
  httpRequests: {
    name: 'http_requests_total',
    help: 'HTTP requests by method, route template and status code.',
    labelNames: ['method', 'route', 'code'],
  },
  httpDuration: {
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status code.',
    labelNames: ['method', 'route', 'code'],
  },
  buildInfo: {
    name: 'app_build_info',
    help: 'Always 1; labels carry the running version and commit.',
    labelNames: ['version', 'commit'],
  },
  redisUp: {
    name: 'redis_up',
    help: '1 when the Redis connection is ready, 0 while it is down (rate limiting then falls back to in-process limits).',
    labelNames: [],
  },
  postgresUp: {
    name: 'postgres_up',
    help: "1 when PostgreSQL answered the readiness probe's last SELECT 1 (every READY_PROBE_INTERVAL_MS, own connection), else 0.",
    labelNames: [],
  },
  ingestBodiesInFlight: {
    name: 'ingest_bodies_in_flight',
    help: 'Request bodies being received or validated now (bounded by INGEST_BODIES_MAX; beyond it, 503 busy).',
    labelNames: [],
  },
  eventsIngested: {
    name: 'events_ingested_total',
    help: 'Events stored, by type (the types listed in METRIC_EVENT_TYPES; every other type is counted as "other").',
    labelNames: ['type'],
  },
  eventsRejected: {
    name: 'events_rejected_total',
    help: 'Events (or requests, when their events cannot be counted) refused, by reason.',
    labelNames: ['reason'],
  },
  eventsDuplicates: {
    name: 'events_duplicates_total',
    help: 'Events already stored earlier (acknowledged, not stored again).',
    labelNames: [],
  },
  ingestFlushDuration: {
    name: 'ingest_flush_duration_seconds',
    help: 'Time of one group-commit flush (its transaction, COMMIT included).',
    labelNames: [],
  },
  ingestFlushRows: { name: 'ingest_flush_rows', help: 'Events per flush.', labelNames: [] },
  ingestFlushFailures: {
    name: 'ingest_flush_failures_total',
    help: 'Flushes that failed (their requests got 503 or 400).',
    labelNames: [],
  },
  ingestQueueMaxRows: {
    name: 'ingest_queue_max_rows',
    help: 'Configured bound of the ingest queue (INGEST_QUEUE_MAX_ROWS).',
    labelNames: [],
  },
  ingestQueueRows: { name: 'ingest_queue_rows', help: 'Events queued or being flushed.', labelNames: [] },
  ingestQueueBytes: { name: 'ingest_queue_bytes', help: 'Payload bytes queued or being flushed.', labelNames: [] },
  rateLimitFallback: {
    name: 'rate_limit_fallback_total',
    help: 'Rate-limit decisions taken in-process because Redis was unavailable.',
    labelNames: [],
  },
  logLinesSuppressed: {
    name: 'log_lines_suppressed_total',
    help: 'Log lines of client errors (4xx access lines, malformed HTTP) not written: over LOG_CLIENT_ERRORS_PER_S.',
    labelNames: [],
  },
  dbPoolInUse: { name: 'db_pool_connections_in_use', help: 'PostgreSQL connections checked out of the pool.', labelNames: [] },
  dbPoolWaiting: { name: 'db_pool_connections_waiting', help: 'Queries waiting for a free pool connection.', labelNames: [] },
  dbPoolMax: { name: 'db_pool_connections_max', help: 'Configured pool size (DB_POOL_MAX).', labelNames: [] },
} as const satisfies Record<string, MetricSpec>;

/** What the maintenance job pushes to the Pushgateway (job MAINTENANCE_JOB). */
export const MAINTENANCE_METRICS = {
  lastSuccess: {
    name: 'maintenance_last_success_timestamp_seconds',
    help: 'When the maintenance job last succeeded (Unix seconds).',
    labelNames: [],
  },
  lastRun: {
    name: 'maintenance_last_run_timestamp_seconds',
    help: 'When the maintenance job last finished, successfully or not.',
    labelNames: [],
  },
  duration: { name: 'maintenance_duration_seconds', help: 'Duration of the last maintenance run.', labelNames: [] },
  failed: { name: 'maintenance_failed', help: '1 when the last maintenance run failed, else 0.', labelNames: [] },
  created: { name: 'maintenance_partitions_created', help: 'Daily partitions created by the last run.', labelNames: [] },
  dropped: { name: 'maintenance_partitions_dropped', help: 'Daily partitions dropped by the last run (retention).', labelNames: [] },
  rolledUp: { name: 'maintenance_rows_rolled_up', help: 'Daily per-sensor count rows written by the last run.', labelNames: [] },
  newestPartition: {
    name: 'events_partition_newest_day_timestamp_seconds',
    help: "Start (UTC) of the newest daily events partition; tomorrow's exists iff this is in the future.",
    labelNames: [],
  },
} as const satisfies Record<string, MetricSpec>;
