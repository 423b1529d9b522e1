/**
 * The maintenance batch job (`node dist/jobs/maintenance.js`, `make maintenance`, a Kubernetes
 * CronJob): creates daily partitions ahead, drops those past retention, forgets old dedupe ids,
 * recomputes daily per-sensor counts, and pushes its metrics to the Pushgateway. Exits 1 on failure
 * (after pushing the failure); an unreachable Pushgateway is only a warning.
 *
 * Its DDL never queues an exclusive lock on `events` ahead of ingest: partitions are created as
 * standalone tables and attached, and removed with DETACH PARTITION … CONCURRENTLY (both take SHARE
 * UPDATE EXCLUSIVE on `events`, which neither reads nor inserts conflict with). Every statement runs
 * under a short lock_timeout and is retried with backoff, so a long reader delays the job, not ingest.
 */
import { Pool, PoolClient } from 'pg';
import { Gauge, Pushgateway, Registry } from 'prom-client';
import { ConfigError, loadSettings } from '../config';
import { withSessionSettings } from '../db/session';
import { databaseUrl } from '../db/tls';
import { createLogger, Logger } from '../observability/logger';
import { MAINTENANCE_METRICS } from '../observability/metric-names';

export const JOB_NAME = 'event_maintenance';
/** Two maintenance runs must not overlap (a CronJob may start one while a slow one still runs). */
const LOCK_ID = 727_001;
const DAY_MS = 86_400_000;
const PARTITION_NAME = /^events_(\d{4})(\d{2})(\d{2})$/;

export const SETTINGS = [
  'DATABASE_URL',
  'DATABASE_CA_FILE',
  'DATABASE_OWNER_ROLE',
  'PUSHGATEWAY_URL',
  'LOG_LEVEL',
  'RETENTION_DAYS',
  'PARTITIONS_AHEAD_DAYS',
  'DEDUPE_WINDOW_DAYS',
  'ROLLUP_DAYS',
  'DB_STATEMENT_TIMEOUT_MS',
  'EVENT_MAX_AGE_S',
  'MAINTENANCE_LOCK_TIMEOUT_MS',
  'MAINTENANCE_LOCK_RETRIES',
] as const;
export type MaintenanceConfig = ReturnType<typeof loadSettings<(typeof SETTINGS)[number]>>;

export interface MaintenanceResult {
  partitionsCreated: number;
  partitionsDropped: number;
  dedupeIdsForgotten: number;
  rowsRolledUp: number;
  /** Start (UTC) of the newest daily partition. */
  newestPartitionDay: Date | undefined;
}

const utcDay = (t: number): string => new Date(Math.floor(t / DAY_MS) * DAY_MS).toISOString().slice(0, 10);

function partitionDay(name: string): Date | undefined {
  const m = PARTITION_NAME.exec(name);
  return m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
}

interface Partition {
  name: string;
  day: Date;
  /** An earlier DETACH … CONCURRENTLY was interrupted: only FINALIZE can complete it. */
  detachPending: boolean;
}

async function dailyPartitions(db: Pool | PoolClient): Promise<Partition[]> {
  const { rows } = await db.query<{ name: string; pending: boolean }>(
    `SELECT c.relname AS name, i.inhdetachpending AS pending
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass`,
  );
  return rows.flatMap((r) => {
    const day = partitionDay(r.name);
    return day ? [{ name: r.name, day, detachPending: r.pending }] : [];
  });
}

const LOCK_NOT_AVAILABLE = '55P03';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs one DDL step; when it gave up waiting for a lock (lock_timeout), waits and tries again, up to
 * MAINTENANCE_LOCK_RETRIES times with doubling pauses (250 ms up to 10 s).
 */
async function withLockRetries<T>(cfg: MaintenanceConfig, logger: Logger, step: string, run: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if ((err as { code?: unknown }).code !== LOCK_NOT_AVAILABLE || attempt >= cfg.MAINTENANCE_LOCK_RETRIES) throw err;
      const pauseMs = Math.min(250 * 2 ** attempt, 10_000);
      logger.warn({ step, attempt: attempt + 1, pauseMs }, 'lock not available within lock_timeout; retrying later');
      await sleep(pauseMs);
    }
  }
}

/** Detaches without blocking readers or ingest (CONCURRENTLY cannot run in a transaction block: autocommit here), then drops. */
async function dropPartition(client: PoolClient, cfg: MaintenanceConfig, logger: Logger, name: string): Promise<void> {
  const table = client.escapeIdentifier(name);
  await withLockRetries(cfg, logger, `detach ${name}`, async () => {
    const pending = (await dailyPartitions(client)).find((p) => p.name === name)?.detachPending;
    await client.query(`ALTER TABLE events DETACH PARTITION ${table} ${pending ? 'FINALIZE' : 'CONCURRENTLY'}`);
  });
  await withLockRetries(cfg, logger, `drop ${name}`, () => client.query(`DROP TABLE ${table}`));
}

export async function runMaintenance(pool: Pool, cfg: MaintenanceConfig, logger: Logger, now = Date.now()): Promise<MaintenanceResult> {
  const client = await pool.connect();
  try {
    const { rows: lock } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCK_ID]);
    if (!lock[0]?.ok) throw new Error('another maintenance run holds the lock');
    try {
      await client.query(`SET lock_timeout = ${cfg.MAINTENANCE_LOCK_TIMEOUT_MS}`);
      const cutoff = Date.parse(utcDay(now)) - cfg.RETENTION_DAYS * DAY_MS;
      // Every accepted event time needs its partition (there is no default partition to catch strays).
      const firstDay = Math.max(Date.parse(utcDay(now - cfg.EVENT_MAX_AGE_S * 1000)), cutoff);
      let partitionsCreated = 0;
      for (let t = firstDay; t <= now + cfg.PARTITIONS_AHEAD_DAYS * DAY_MS; t += DAY_MS) {
        const { rows } = await withLockRetries(cfg, logger, `partition ${utcDay(t)}`, () =>
          client.query<{ created: boolean }>('SELECT ensure_events_partition($1::date) AS created', [utcDay(t)]),
        );
        if (rows[0]?.created) partitionsCreated++;
      }
      logger.info({ partitionsCreated, aheadDays: cfg.PARTITIONS_AHEAD_DAYS }, 'partitions ensured');

      let partitionsDropped = 0;
      for (const p of await dailyPartitions(client)) {
        if (p.day.getTime() + DAY_MS <= cutoff) {
          await dropPartition(client, cfg, logger, p.name);
          partitionsDropped++;
        }
      }
      logger.info({ partitionsDropped, retentionDays: cfg.RETENTION_DAYS }, 'retention applied');

      const forgotten = await client.query('DELETE FROM event_ids WHERE received_at < $1', [
        new Date(now - cfg.DEDUPE_WINDOW_DAYS * DAY_MS),
      ]);
      const dedupeIdsForgotten = forgotten.rowCount ?? 0;

      const rollupFrom = Date.parse(utcDay(now)) - (cfg.ROLLUP_DAYS - 1) * DAY_MS;
      const rollup = await client.query(
        `INSERT INTO event_daily_counts (sensor_id, day, events)
         SELECT sensor_id, (ts AT TIME ZONE 'UTC')::date, count(*) FROM events WHERE ts >= $1 AND ts < $2 GROUP BY 1, 2
         ON CONFLICT (sensor_id, day) DO UPDATE SET events = EXCLUDED.events`,
        [new Date(rollupFrom), new Date(Date.parse(utcDay(now)) + DAY_MS)],
      );
      const rowsRolledUp = rollup.rowCount ?? 0;
      logger.info({ rowsRolledUp, dedupeIdsForgotten, fromDay: utcDay(rollupFrom) }, 'rollups computed');

      const days = (await dailyPartitions(client)).map((p) => p.day.getTime());
      const newestPartitionDay = days.length ? new Date(Math.max(...days)) : undefined;
      return { partitionsCreated, partitionsDropped, dedupeIdsForgotten, rowsRolledUp, newestPartitionDay };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK_ID]);
    }
  } finally {
    client.release();
  }
}

/** The job's own registry: pushing it never pushes process metrics. */
export function jobMetrics() {
  const registry = new Registry();
  const g = (spec: (typeof MAINTENANCE_METRICS)[keyof typeof MAINTENANCE_METRICS]) => new Gauge({ ...spec, registers: [registry] });
  const m = MAINTENANCE_METRICS;
  return {
    registry,
    lastSuccess: g(m.lastSuccess),
    lastRun: g(m.lastRun),
    duration: g(m.duration),
    failed: g(m.failed),
    created: g(m.created),
    dropped: g(m.dropped),
    rolledUp: g(m.rolledUp),
    newestPartition: g(m.newestPartition),
  };
}

/** pushAdd replaces only the metrics sent: a failed run keeps the previous last-success time. */
export async function pushMetrics(url: string, registry: Registry, logger: Logger): Promise<boolean> {
  if (!url) {
    logger.info('PUSHGATEWAY_URL is empty: metrics not pushed');
    return false;
  }
  try {
    await new Pushgateway(url, { timeout: 5000 }, registry).pushAdd({ jobName: JOB_NAME });
    logger.info({ url }, 'metrics pushed');
    return true;
  } catch (err) {
    logger.warn({ url, err: (err as Error).message }, 'could not push metrics to the Pushgateway; the job itself is unaffected');
    return false;
  }
}

/** Runs the job once and returns its exit code. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let cfg: MaintenanceConfig;
  try {
    cfg = loadSettings(SETTINGS, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const problem of err.problems) console.error(`config error: ${problem}`);
    return 2;
  }
  const logger = createLogger(cfg.LOG_LEVEL).child({ job: JOB_NAME });
  let connectionString: string;
  try {
    connectionString = withSessionSettings(
      databaseUrl(cfg.DATABASE_URL, cfg.DATABASE_CA_FILE),
      cfg.DATABASE_OWNER_ROLE ? { role: cfg.DATABASE_OWNER_ROLE } : {},
    );
  } catch (err) {
    console.error(`config error: ${(err as Error).message}`);
    return 2;
  }
  const pool = new Pool({ connectionString, max: 2, statement_timeout: Math.max(cfg.DB_STATEMENT_TIMEOUT_MS, 300_000) });
  pool.on('error', (err) => logger.warn({ err: err.message }, 'idle PostgreSQL connection failed'));
  const m = jobMetrics();
  const start = process.hrtime.bigint();
  let code = 0;
  try {
    const r = await runMaintenance(pool, cfg, logger);
    m.created.set(r.partitionsCreated);
    m.dropped.set(r.partitionsDropped);
    m.rolledUp.set(r.rowsRolledUp);
    if (r.newestPartitionDay) m.newestPartition.set(r.newestPartitionDay.getTime() / 1000);
    m.failed.set(0);
    m.lastSuccess.set(Date.now() / 1000);
    logger.info(r, 'maintenance succeeded');
  } catch (err) {
    m.failed.set(1);
    logger.error({ err }, 'maintenance failed');
    code = 1;
  } finally {
    await pool.end().catch(() => undefined);
  }
  m.duration.set(Number(process.hrtime.bigint() - start) / 1e9);
  m.lastRun.set(Date.now() / 1000);
  if (code !== 0) {
    // A failed run must not push zeros over the last good run's figures.
    for (const spec of [
      MAINTENANCE_METRICS.created,
      MAINTENANCE_METRICS.dropped,
      MAINTENANCE_METRICS.rolledUp,
      MAINTENANCE_METRICS.newestPartition,
      MAINTENANCE_METRICS.lastSuccess,
    ]) {
      m.registry.removeSingleMetric(spec.name);
    }
  }
  await pushMetrics(cfg.PUSHGATEWAY_URL, m.registry, logger);
  return code;
}

if (require.main === module) {
  // As PID 1 in a container a process without a handler ignores SIGTERM and is killed later. Stop at
  // once instead: every step is idempotent, PostgreSQL releases the lock with the connection, and the
  // missing success shows up as a stale job.
  process.once('SIGTERM', () => {
    console.error('maintenance: SIGTERM received, stopping');
    process.exit(143);
  });
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`maintenance crashed: ${(err as Error).stack ?? String(err)}`);
      process.exit(1);
    },
  );
}
