/**
 * Migrations while the running version keeps ingesting (a rolling upgrade): the no-default-partition
 * migration needs ACCESS EXCLUSIVE on `events`, and a long reader (a pg_dump, an analytics query) holds
 * ACCESS SHARE on it. Without lock_timeout the migration queues behind the reader and every ingest INSERT
 * queues behind the migration until the statement timeout (503). With it, each attempt gives up after
 * MIGRATE_LOCK_TIMEOUT_MS and is retried: ingest keeps answering, and the migration lands once the reader ends,
 * or fails after MIGRATE_LOCK_RETRIES saying why.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import { sleep, waitFor } from '../../tools/stack/process';
import { createSensor, databaseAtMigration, postEvents, startTestService, TestService } from './helpers';

const ROOT = path.join(__dirname, '..', '..');

interface Migration {
  output(): string;
  exited: Promise<number | null>;
}

/** `make migrate`'s entry point as the migration Job runs it, from source. */
function migrate(env: Record<string, string>): Migration {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'app', 'src', 'db', 'migrate.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, MIGRATE_WAIT_S: '0', ...env },
  });
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return { output: () => out, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

/** A new database at the schema before the no-default-partition migration, with the service's role granted on it. */
const oldSchemaDatabase = () => databaseAtMigration('online', 2);

async function hasDefaultPartition(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(`SELECT to_regclass('events_default') IS NOT NULL AS present`)).rows[0].present as boolean;
  } finally {
    await client.end();
  }
}

/** Steady ingest (one request at a time) until stopped; every answer's status kept. */
function steadyIngest(svc: TestService, token: string): { statuses: number[]; stop(): Promise<void> } {
  const statuses: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      statuses.push((await postEvents(svc.url, token, { type: 'online', payload: { n: statuses.length } })).status);
      await sleep(50);
    }
  })();
  return {
    statuses,
    async stop() {
      running = false;
      await loop;
    },
  };
}

const rolledBack = (out: string) => (out.match(/was rolled back; next attempt in/g) ?? []).length;

test('when a long reader holds `events` during the no-default-partition migration, then ingest keeps answering and the migration retries until the reader ends, then lands', async () => {
  const db = await oldSchemaDatabase();
  expect(await hasDefaultPartition(db.owner)).toBe(true);
  const svc = await startTestService({ DATABASE_URL: db.service, DB_STATEMENT_TIMEOUT_MS: '2000' });
  const reader = new Client({ connectionString: db.owner });
  try {
    const sensor = await createSensor(svc.url);
    // A backup or an analytics query: a transaction holding ACCESS SHARE on `events` and every partition.
    await reader.connect();
    await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await reader.query('SELECT count(*) FROM events');

    const load = steadyIngest(svc, sensor.token);
    const run = migrate({ DATABASE_URL: db.owner, MIGRATE_LOCK_TIMEOUT_MS: '300', MIGRATE_LOCK_RETRIES: '100' });
    await waitFor('two rolled-back attempts behind the reader', async () => rolledBack(run.output()) >= 2, 60000);
    const duringReader = load.statuses.length;
    await reader.query('COMMIT');
    const code = await run.exited;
    await load.stop();

    expect(duringReader).toBeGreaterThan(0);
    expect(load.statuses.filter((s) => s !== 202 && s !== 429)).toEqual([]);
    expect(run.output()).toMatch(
      /migrate: attempt 1 waited 300 ms for a lock another session holds and was rolled back; next attempt in 0\.5 s/,
    );
    expect(run.output()).toContain('migrations applied');
    expect(code).toBe(0);
    expect(await hasDefaultPartition(db.owner)).toBe(false);
    // Every acknowledged event is stored, and the service keeps ingesting on the new schema.
    const check = new Client({ connectionString: db.owner });
    await check.connect();
    try {
      const { rows } = await check.query('SELECT count(*)::int AS n FROM events WHERE sensor_id = $1', [sensor.sensorId]);
      expect(rows[0].n).toBe(load.statuses.filter((s) => s === 202).length);
    } finally {
      await check.end();
    }
    expect((await postEvents(svc.url, sensor.token, { type: 'online', payload: {} })).status).toBe(202);
  } finally {
    await reader.end().catch(() => undefined);
    await svc.shutdown();
  }
}, 120000);

test('when the reader outlasts MIGRATE_LOCK_RETRIES, then the migration fails saying why, changes nothing, and ingest never stalled', async () => {
  const db = await oldSchemaDatabase();
  const svc = await startTestService({ DATABASE_URL: db.service, DB_STATEMENT_TIMEOUT_MS: '2000' });
  const reader = new Client({ connectionString: db.owner });
  try {
    const sensor = await createSensor(svc.url);
    await reader.connect();
    await reader.query('BEGIN');
    await reader.query('SELECT count(*) FROM events');

    const load = steadyIngest(svc, sensor.token);
    const run = migrate({ DATABASE_URL: db.owner, MIGRATE_LOCK_TIMEOUT_MS: '300', MIGRATE_LOCK_RETRIES: '2' });
    const code = await run.exited;
    await load.stop();

    expect(code).toBe(1);
    expect(rolledBack(run.output())).toBe(2);
    expect(run.output()).toMatch(
      /migrations gave up after 3 attempt\(s\): each waited 300 ms \(MIGRATE_LOCK_TIMEOUT_MS\) for a lock another session holds/,
    );
    expect(await hasDefaultPartition(db.owner)).toBe(true);
    expect(load.statuses.length).toBeGreaterThan(0);
    expect(load.statuses.filter((s) => s !== 202 && s !== 429)).toEqual([]);
  } finally {
    await reader.query('ROLLBACK').catch(() => undefined);
    await reader.end().catch(() => undefined);
    await svc.shutdown();
  }
}, 120000);
