/** The PostgreSQL pool, with timeouts so that no request waits on a dead database for long. */
import { Pool } from 'pg';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';

export function createPool(config: Config, logger: Logger): Pool {
  const pool = new Pool({
    connectionString: config.DATABASE_URL,
    max: config.DB_POOL_MAX,
    connectionTimeoutMillis: config.DB_CONNECT_TIMEOUT_MS,
    statement_timeout: config.DB_STATEMENT_TIMEOUT_MS,
    query_timeout: config.DB_STATEMENT_TIMEOUT_MS + 1000,
    idleTimeoutMillis: 30000,
    application_name: 'event-service',
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (err) => logger.warn({ err: err.message }, 'idle PostgreSQL connection failed'));
  return pool;
}
