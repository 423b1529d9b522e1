/**
 * Backup → restore for real: the CronJob's own script (infra/backup/pg-backup.sh) dumps a database
 * holding ingested events with the real pg_dump, infra/backup/pg-restore.sh restores it into an empty
 * database with the real pg_restore, and the restored events match the originals in count and checksum.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { runMigrations } from '../src/db/migrate';
import { SERVICE_ROLE } from '../src/db/service-role';
import { PG_BIN_DIRS } from '../../tools/stack/services';
import { createSensor, freshDatabase, getJson, postEvents, startTestService } from './helpers';

const SCRIPTS = path.join(__dirname, '..', '..', 'infra', 'backup');

/** Runs one of the scripts as the CronJob does: libpq variables name the database. */
function script(name: string, databaseUrl: string, env: Record<string, string>, args: string[] = []) {
  const url = new URL(databaseUrl);
  const run = spawnSync('sh', [path.join(SCRIPTS, name), ...args], {
    encoding: 'utf8',
    env: {
      PATH: [...PG_BIN_DIRS, process.env.PATH].join(path.delimiter),
      PGHOST: url.hostname,
      PGPORT: url.port,
      PGUSER: decodeURIComponent(url.username),
      PGDATABASE: url.pathname.slice(1),
      ...env,
    },
    timeout: 60000,
  });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

async function query<T = Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Count and checksum of every stored event, every column, in a fixed order. */
const fingerprint = (url: string) =>
  query<{ events: string; checksum: string; sensors: string; ids: string }>(
    url,
    `SELECT (SELECT count(*) FROM events) AS events,
            (SELECT md5(string_agg(concat_ws('|', sensor_id, event_id, type, ts, received_at, payload::text), ',' ORDER BY sensor_id, event_id)) FROM events) AS checksum,
            (SELECT count(*) FROM sensors) AS sensors,
            (SELECT count(*) FROM event_ids) AS ids`,
  ).then((rows) => rows[0] as { events: string; checksum: string; sensors: string; ids: string });

async function emptyDatabase(like: string): Promise<string> {
  const url = new URL(like);
  const name = `restore_${Math.random().toString(16).slice(2, 10)}`;
  await query(like, `CREATE DATABASE ${name}`);
  url.pathname = `/${name}`;
  return url.toString();
}

let source: string;
let backups: string;
const seeded: Array<{ token: string }> = [];

beforeAll(async () => {
  source = await freshDatabase();
  backups = fs.mkdtempSync(path.join(process.env.TEST_STACK_DIR as string, 'backups-'));
  const svc = await startTestService({ DATABASE_URL: source });
  try {
    for (let s = 0; s < 3; s++) {
      const sensor = await createSensor(svc.url);
      seeded.push(sensor);
      const events = Array.from({ length: 200 }, (_, i) => ({
        type: `t${i % 5}`,
        ts: new Date(Date.now() - (i * 3_600_000) / 20).toISOString(),
        payload: { i, s, note: `é ${'x'.repeat(i % 40)}` },
      }));
      expect((await postEvents(svc.url, sensor.token, { events })).status).toBe(202);
    }
  } finally {
    await svc.shutdown();
  }
}, 60000);

test('when the backup script runs and the dump is restored into an empty database, then events, sensors and dedupe ids match in count and checksum', async () => {
  const before = await fingerprint(source);
  expect(Number(before.events)).toBe(600);

  const backup = script('pg-backup.sh', source, { BACKUP_DIR: backups, BACKUP_KEEP: '3' });
  expect(backup.out).toMatch(/pg-backup: wrote .*events-\d{8}T\d{6}Z\.dump \(\d+ bytes\)/);
  expect(backup.status).toBe(0);
  const [dump] = fs.readdirSync(backups).filter((f) => f.endsWith('.dump'));
  expect(dump).toBeDefined();

  const target = await emptyDatabase(source);
  const restore = script('pg-restore.sh', target, {}, [path.join(backups, dump as string)]);
  expect(restore.out).toContain('pg-restore: done');
  expect(restore.status).toBe(0);
  expect(await fingerprint(target)).toEqual(before);

  // The documented procedure ends with a migration run: the service's role gets its grants back and reads the data.
  const serviceUrl = new URL(target);
  serviceUrl.username = SERVICE_ROLE;
  await runMigrations(target, { quiet: true, serviceUrl: serviceUrl.toString() });
  const svc = await startTestService({ DATABASE_URL: serviceUrl.toString() });
  try {
    const read = await getJson(`${svc.url}/api/v1/events?limit=1000`, seeded[0]?.token);
    expect(read.status).toBe(200);
    expect(read.body.events).toHaveLength(200);
  } finally {
    await svc.shutdown();
  }
}, 60000);

test('when more dumps exist than BACKUP_KEEP, then the oldest are removed and unrelated files are left alone', () => {
  const dir = fs.mkdtempSync(path.join(backups, 'keep-'));
  const old = ['events-20200101T000000Z.dump', 'events-20200102T000000Z.dump', 'events-20200103T000000Z.dump'];
  for (const f of [...old, 'notes.txt']) fs.writeFileSync(path.join(dir, f), 'x');
  const r = script('pg-backup.sh', source, { BACKUP_DIR: dir, BACKUP_KEEP: '2' });
  expect(r.status).toBe(0);
  const left = fs.readdirSync(dir).sort();
  expect(left).toHaveLength(3);
  expect(left).toContain('events-20200103T000000Z.dump');
  expect(left).toContain('notes.txt');
  expect(left.filter((f) => /^events-\d{8}T\d{6}Z\.dump$/.test(f) && !f.startsWith('events-2020'))).toHaveLength(1);
  expect(r.out).toContain('pg-backup: removed events-20200101T000000Z.dump (keeping 2)');
  expect(r.out).toContain('pg-backup: removed events-20200102T000000Z.dump (keeping 2)');
});

test('when pg_dump fails, then the script fails and leaves no partial dump behind', () => {
  const dir = fs.mkdtempSync(path.join(backups, 'fail-'));
  const url = new URL(source);
  url.pathname = '/no_such_database';
  const r = script('pg-backup.sh', url.toString(), { BACKUP_DIR: dir, BACKUP_KEEP: '2' });
  expect(r.status).not.toBe(0);
  expect(r.out).toContain('database "no_such_database" does not exist');
  expect(fs.readdirSync(dir)).toEqual([]);
});

test('when BACKUP_KEEP is not a positive number, or the restore target is not empty, then the scripts refuse and change nothing', () => {
  const dir = fs.mkdtempSync(path.join(backups, 'bad-'));
  const bad = script('pg-backup.sh', source, { BACKUP_DIR: dir, BACKUP_KEEP: '0' });
  expect(bad.status).toBe(2);
  expect(bad.out).toContain('pg-backup: BACKUP_KEEP must be a whole number ≥ 1, got "0"');
  expect(fs.readdirSync(dir)).toEqual([]);

  const busy = script('pg-restore.sh', source, {}, [path.join(dir, 'missing.dump')]);
  expect(busy.status).toBe(2);
  expect(busy.out).toContain('pg-restore: cannot read');
  fs.writeFileSync(path.join(dir, 'x.dump'), 'x');
  const nonEmpty = script('pg-restore.sh', source, {}, [path.join(dir, 'x.dump')]);
  expect(nonEmpty.status).toBe(2);
  expect(nonEmpty.out).toMatch(/pg-restore: database t_[0-9a-f]+ is not empty \(\d+ tables\): restore into a new, empty database/);
});
