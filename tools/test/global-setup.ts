/**
 * jest global setup: an ephemeral PostgreSQL and Redis on free loopback ports, with the real
 * migrations applied. Tests find them through TEST_DATABASE_URL (the owner), TEST_SERVICE_DATABASE_URL
 * (the service's role: rows only) and TEST_REDIS_URL.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runMigrations } from '../../app/src/db/migrate';
import { freePort } from '../stack/process';
import { PostgresServer, RedisServer } from '../stack/services';

export interface TestStack {
  dir: string;
  postgres: PostgresServer;
  redis: RedisServer;
}

declare global {
  var __TEST_STACK__: TestStack | undefined;
}

export default async function globalSetup(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-stack-test-'));
  fs.chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user and must reach its data directory
  const postgres = new PostgresServer({
    dir: path.join(dir, 'postgres'),
    port: await freePort(),
    fast: true,
    servicePassword: `pw-${randomBytes(16).toString('hex')}`,
  });
  const redis = new RedisServer({ dir: path.join(dir, 'redis'), port: await freePort() });
  globalThis.__TEST_STACK__ = { dir, postgres, redis };
  try {
    await Promise.all([postgres.start(), redis.start()]);
    await runMigrations(postgres.url, { quiet: true, serviceUrl: postgres.serviceUrl });
  } catch (err) {
    await Promise.all([postgres.stop(), redis.stop()]);
    throw err;
  }
  process.env.TEST_STACK_DIR = dir;
  process.env.TEST_DATABASE_URL = postgres.url;
  process.env.TEST_SERVICE_DATABASE_URL = postgres.serviceUrl;
  process.env.TEST_REDIS_URL = redis.url;
}
