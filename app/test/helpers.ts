/** Starts the real service in-process on port 0 against the harness's Postgres and Redis. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Client } from 'pg';
import { runMigrations } from '../src/db/migrate';
import { startService, Service } from '../src/app';
import { Config, loadConfig } from '../src/config';
import { createLogger } from '../src/observability/logger';

export const ADMIN_TOKEN = `admin-${randomBytes(24).toString('hex')}`;

export function testEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const need = (name: string) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set: run tests through jest (its global setup starts the services)`);
    return v;
  };
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    // The service's own role, as deployed: rows only, no DDL.
    DATABASE_URL: need('TEST_SERVICE_DATABASE_URL'),
    REDIS_URL: need('TEST_REDIS_URL'),
    ADMIN_TOKEN,
    LOG_LEVEL: 'debug',
    SHUTDOWN_GRACE_MS: '5000',
    ...overrides,
  };
}

export interface TestService extends Service {
  config: Config;
  /** Every log line this instance wrote, parsed. */
  logs(): Array<Record<string, unknown>>;
  /** The raw log text. */
  logText(): string;
}

/** Every log line of every test instance also goes here, for run-wide checks (no secrets logged). */
function runLogFile(): string | undefined {
  const dir = process.env.TEST_STACK_DIR;
  return dir ? path.join(dir, 'service-logs.jsonl') : undefined;
}

export async function startTestService(overrides: Record<string, string> = {}): Promise<TestService> {
  const config = loadConfig(testEnv(overrides));
  const chunks: string[] = [];
  const file = runLogFile();
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString();
      chunks.push(text);
      if (file) fs.appendFileSync(file, text);
      cb();
    },
  });
  const logger = createLogger(config.LOG_LEVEL, sink);
  const service = await startService(config, logger);
  const logText = () => chunks.join('');
  return {
    ...service,
    config,
    logText,
    logs: () =>
      logText()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Creates an empty database on the harness's PostgreSQL; returns the owner's URL of it. */
async function createDatabase(prefix: string): Promise<URL> {
  const url = new URL(process.env.TEST_DATABASE_URL ?? '');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  url.pathname = `/${name}`;
  return url;
}

/** A new database on the harness's PostgreSQL with the real migrations: for tests that lock, drop or break things. */
export async function freshDatabase(): Promise<string> {
  const url = (await createDatabase('t')).toString();
  await runMigrations(url, { quiet: true });
  return url;
}

/**
 * A new database at the schema of the first `count` migrations, with the service's role set up on it: for
 * tests of a schema behind the code (a rolling upgrade). Returns the owner's and the service's URLs of it.
 */
export async function databaseAtMigration(prefix: string, count: number): Promise<{ owner: string; service: string }> {
  const owner = await createDatabase(prefix);
  const service = new URL(process.env.TEST_SERVICE_DATABASE_URL as string);
  service.pathname = owner.pathname;
  await runMigrations(owner.toString(), { quiet: true, count, serviceUrl: service.toString() });
  return { owner: owner.toString(), service: service.toString() };
}

export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

export interface CreatedSensor {
  sensorId: string;
  name: string;
  token: string;
  createdAt: string;
}

export async function createSensor(url: string, name = `sensor-${randomBytes(4).toString('hex')}`): Promise<CreatedSensor> {
  const res = await fetch(`${url}/api/v1/sensors`, {
    method: 'POST',
    headers: { ...bearer(ADMIN_TOKEN), 'Content-Type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (res.status !== 201) throw new Error(`creating a sensor: ${res.status} ${await res.text()}`);
  return (await res.json()) as CreatedSensor;
}

export async function postEvents(url: string, token: string, body: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${url}/api/v1/events`, {
    method: 'POST',
    headers: { ...bearer(token), 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

export async function getJson(url: string, token?: string): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { headers: token ? bearer(token) : {} });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** Rows of a sensor's events straight from PostgreSQL (never through the service). */
export async function storedEvents(
  databaseUrl: string,
  sensorId: string,
): Promise<Array<{ event_id: string; type: string; ts: Date; payload: unknown }>> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT event_id, type, ts, payload FROM events WHERE sensor_id = $1 ORDER BY ts, event_id', [
      sensorId,
    ]);
    return rows;
  } finally {
    await client.end();
  }
}
