/**
 * Applies the versioned SQL migrations in app/migrations with node-pg-migrate, as the owner of the tables,
 * then gives the service's own role (SERVICE_DATABASE_URL) its row-level grants.
 * Used by `make migrate`, the test harness, `make local` and the Kubernetes migration Job
 * (`node dist/db/migrate.js`). On a fresh cluster PostgreSQL may start after the Job: it waits for
 * the database first, up to MIGRATE_WAIT_S, logging every attempt.
 *
 * The old version keeps serving while this runs (rolling upgrade), so a migration must never queue a lock
 * ahead of ingest for long: every statement runs under lock_timeout (MIGRATE_LOCK_TIMEOUT_MS). A migration
 * that times out behind another session (a long reader such as pg_dump holding a table) rolls back and is
 * run again after a pause, up to MIGRATE_LOCK_RETRIES times; then it fails, saying so. Ingest waits at most
 * lock_timeout behind each attempt, never behind the reader.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import { ConfigError, loadSettings } from '../config';
import { isDatabaseUnavailable } from './pg-errors';
import { ensureMonitorRole } from './monitor-role';
import { ensureServiceRole } from './service-role';
import { withSessionSettings } from './session';
import { certificateHint, databaseUrl } from './tls';

export const MIGRATIONS_DIR = path.join(__dirname, '..', '..', 'migrations');

export interface MigrateOptions {
  quiet?: boolean;
  direction?: 'up' | 'down';
  signal?: AbortSignal;
  /** The service's connection URL: its user becomes a role that reads and writes rows and runs no DDL. */
  serviceUrl?: string;
  /** The PostgreSQL exporter's connection URL: its user becomes a role with pg_monitor only. */
  monitorUrl?: string;
  /** How long to wait for PostgreSQL to accept connections before giving up; 0 tries once. */
  waitMs?: number;
  /** Apply only this many pending migrations (an older schema, for compatibility tests); all by default. */
  count?: number;
  /** The role that owns the tables (DATABASE_OWNER_ROLE), when the login user is a migrator that is a member of it. */
  ownerRole?: string;
  /** lock_timeout of every migration statement; 0 waits forever (PostgreSQL's default). */
  lockTimeoutMs?: number;
  /** Runs again after a lock timeout before giving up. */
  lockRetries?: number;
  log?: (line: string) => void;
}

/** The pause before attempt n+1: 0.5 s, 1 s, 2 s, then every 4 s. */
const retryDelayMs = (attempt: number) => Math.min(4000, 500 * 2 ** (attempt - 1));
/** The pause before run n+1 after a lock timeout: 0.5 s doubling up to 15 s (20 retries: about 4 minutes). */
const lockRetryDelayMs = (attempt: number) => Math.min(15_000, 500 * 2 ** (attempt - 1));

class LockTimeout extends Error {}

/**
 * Resolves once PostgreSQL answers a query. Only "not reachable yet" errors are retried (refused,
 * starting up, timed out); a wrong password or a missing database fails at once, since waiting cannot fix it.
 */
export async function waitForDatabase(
  url: string,
  o: { waitMs: number; log: (line: string) => void; signal?: AbortSignal },
): Promise<void> {
  const deadline = Date.now() + o.waitMs;
  for (let attempt = 1; ; attempt++) {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      if (attempt > 1) o.log(`migrate: PostgreSQL answers (attempt ${attempt})`);
      return;
    } catch (err) {
      const reason = (err as Error).message || (err as { code?: string }).code || String(err);
      if (!isDatabaseUnavailable(err)) throw new Error(`PostgreSQL refused the migration: ${reason}${certificateHint(err)}`);
      const delay = retryDelayMs(attempt);
      if (Date.now() + delay > deadline || o.signal?.aborted) {
        throw new Error(
          `PostgreSQL not reachable after ${attempt} attempt(s) in ${Math.round(o.waitMs / 1000)} s (MIGRATE_WAIT_S): ${reason}`,
        );
      }
      o.log(`migrate: PostgreSQL not reachable yet (attempt ${attempt}: ${reason}); next attempt in ${delay / 1000} s`);
      await new Promise((r) => setTimeout(r, delay));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

function runNodePgMigrate(databaseUrl: string, opts: MigrateOptions): Promise<void> {
  const bin = require.resolve('node-pg-migrate/bin/node-pg-migrate');
  const direction = opts.direction ?? 'up';
  const args = [bin, direction, ...(opts.count === undefined ? [] : [String(opts.count)])];
  args.push('-m', MIGRATIONS_DIR, '--advisory-lock-mode', 'wait', '--verbose', 'false');
  return new Promise((resolve, reject) => {
    let output = '';
    // Piped either way: a lock timeout is recognised in the output (node-pg-migrate prints the error and exits 1).
    const child = spawn(process.execPath, args, {
      env: { ...process.env, DATABASE_URL: databaseUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: opts.signal,
      killSignal: 'SIGTERM',
    });
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (!opts.quiet) process.stdout.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
      if (!opts.quiet) process.stderr.write(d);
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else if (/lock timeout|55P03/.test(output)) reject(new LockTimeout(output));
      else reject(new Error(`migrations failed (exit ${code})\n${output}`));
    });
  });
}

export async function runMigrations(databaseUrl: string, opts: MigrateOptions = {}): Promise<void> {
  const log = opts.log ?? (opts.quiet ? () => undefined : (line: string) => console.log(line));
  await waitForDatabase(databaseUrl, { waitMs: opts.waitMs ?? 0, log, signal: opts.signal });
  const lockTimeoutMs = opts.lockTimeoutMs ?? 0;
  const retries = opts.lockRetries ?? 0;
  const url = withSessionSettings(databaseUrl, {
    ...(lockTimeoutMs ? { lock_timeout: String(lockTimeoutMs) } : {}),
    ...(opts.ownerRole ? { role: opts.ownerRole } : {}),
  });
  for (let attempt = 1; ; attempt++) {
    try {
      await runNodePgMigrate(url, opts);
      break;
    } catch (err) {
      if (!(err instanceof LockTimeout) || opts.signal?.aborted) throw err;
      if (attempt > retries) {
        throw new Error(
          `migrations gave up after ${attempt} attempt(s): each waited ${lockTimeoutMs} ms (MIGRATE_LOCK_TIMEOUT_MS) for a lock another ` +
            `session holds, and was rolled back (MIGRATE_LOCK_RETRIES ${retries}). Nothing was changed by the last attempt; find the ` +
            `session in pg_stat_activity (a long transaction or backup), then run the migration again`,
        );
      }
      const delay = lockRetryDelayMs(attempt);
      log(
        `migrate: attempt ${attempt} waited ${lockTimeoutMs} ms for a lock another session holds and was rolled back; next attempt in ${delay / 1000} s`,
      );
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  if (opts.serviceUrl && (opts.direction ?? 'up') === 'up') {
    const role = await ensureServiceRole(databaseUrl, opts.serviceUrl, opts.ownerRole);
    log(`migrate: role ${role} may read and write rows (no DDL)`);
  }
  if (opts.monitorUrl && (opts.direction ?? 'up') === 'up') {
    const role = await ensureMonitorRole(databaseUrl, opts.monitorUrl, opts.serviceUrl, opts.ownerRole);
    log(`migrate: role ${role} may read statistics (pg_monitor), no rows`);
  }
}

if (require.main === module) {
  const names = [
    'DATABASE_URL',
    'DATABASE_CA_FILE',
    'SERVICE_DATABASE_URL',
    'MONITOR_DATABASE_URL',
    'DATABASE_OWNER_ROLE',
    'MIGRATE_WAIT_S',
    'MIGRATE_LOCK_TIMEOUT_MS',
    'MIGRATE_LOCK_RETRIES',
  ] as const;
  let cfg: ReturnType<typeof loadSettings<(typeof names)[number]>>;
  let url: string;
  try {
    cfg = loadSettings(names);
    url = databaseUrl(cfg.DATABASE_URL, cfg.DATABASE_CA_FILE);
  } catch (err) {
    if (err instanceof ConfigError) for (const problem of err.problems) console.error(`config error: ${problem}`);
    else console.error(`config error: ${(err as Error).message}`);
    process.exit(2);
  }
  // As PID 1 in a container nothing else forwards SIGTERM: pass it on to the migration process.
  const abort = new AbortController();
  process.once('SIGTERM', () => abort.abort());
  runMigrations(url, {
    signal: abort.signal,
    serviceUrl: cfg.SERVICE_DATABASE_URL || undefined,
    monitorUrl: cfg.MONITOR_DATABASE_URL || undefined,
    ownerRole: cfg.DATABASE_OWNER_ROLE,
    waitMs: cfg.MIGRATE_WAIT_S * 1000,
    lockTimeoutMs: cfg.MIGRATE_LOCK_TIMEOUT_MS,
    lockRetries: cfg.MIGRATE_LOCK_RETRIES,
  }).then(
    () => console.log('migrations applied'),
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
