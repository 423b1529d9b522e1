/** The PostgreSQL pool, with timeouts so that no request waits on a dead database for long. */
import { Pool } from 'pg';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import { databaseUrl } from './tls';

/** `max` and `name` default to the main pool (flushes, token lookups); reads get a smaller one of their own. */
export function createPool(config: Config, logger: Logger, opts = { max: config.DB_POOL_MAX, name: 'event-service' }): Pool {
  const pool = new Pool({
    connectionString: databaseUrl(config.DATABASE_URL, config.DATABASE_CA_FILE),
    max: opts.max,
    connectionTimeoutMillis: config.DB_CONNECT_TIMEOUT_MS,
    statement_timeout: config.DB_STATEMENT_TIMEOUT_MS,
    query_timeout: config.DB_STATEMENT_TIMEOUT_MS + 1000,
    idleTimeoutMillis: 30000,
    application_name: opts.name,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (err) => logger.warn({ err: err.message }, 'idle PostgreSQL connection failed'));
  return pool;
}

/** Connection-level failures (server down, restarting, unreachable, timed out): answer 503, not 500. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  return (
    code.startsWith('08') || // connection exception
    code.startsWith('57P') || // admin shutdown, crash shutdown, cannot connect now
    code === '53300' || // too many connections
    code === '57014' || // statement timeout
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH'].includes(code) ||
    /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connect ECONNREFUSED/i.test(message)
  );
}
