/** The PostgreSQL pool, with timeouts so that no request waits on a dead database for long. */
import { Pool } from 'pg';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import { databaseUrl } from './tls';

/**
 * `max`, `name` and the statement timeout default to the main pool (flushes, token lookups); reads get a
 * smaller one of their own, time-boxed by READ_TIMEOUT_MS.
 */
export function createPool(
  config: Config,
  logger: Logger,
  opts: { max: number; name: string; statementTimeoutMs?: number } = { max: config.DB_POOL_MAX, name: 'event-service' },
): Pool {
  const statementTimeoutMs = opts.statementTimeoutMs ?? config.DB_STATEMENT_TIMEOUT_MS;
  const pool = new Pool({
    connectionString: databaseUrl(config.DATABASE_URL, config.DATABASE_CA_FILE),
    max: opts.max,
    connectionTimeoutMillis: config.DB_CONNECT_TIMEOUT_MS,
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + 1000,
    idleTimeoutMillis: 30000,
    application_name: opts.name,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (err) => logger.warn({ err: err.message }, 'idle PostgreSQL connection failed'));
  return pool;
}
