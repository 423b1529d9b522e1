/**
 * The restore drill (`make restore-drill`): point-in-time recovery from an object store with the tools
 * CloudNativePG's Barman Cloud plugin runs (barman-cloud-wal-archive, -backup, -restore, -wal-restore),
 * against a local PostgreSQL and a local S3 (s3rver) on loopback. Events go in through the real service,
 * so "acknowledged" means what a sensor was told: a 202 after COMMIT.
 *
 * A base backup, then events, a target time T, more events; the cluster is then restored into a new data
 * directory up to T. It passes only when exactly the events acknowledged before T come back: none lost,
 * none of the later ones. A gap or damage in the archived WAL makes recovery stop short of T, which
 * PostgreSQL refuses ("recovery ended before configured recovery target was reached"): the drill fails
 * with that line.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import S3rver from 's3rver';
import { startService } from '../../app/src/app';
import { loadConfig } from '../../app/src/config';
import { runMigrations } from '../../app/src/db/migrate';
import { createLogger } from '../../app/src/observability/logger';
import { freePort, logTail, requireExecutable, waitFor } from '../stack/process';
import { PostgresServer, RedisServer, postgresIdentity } from '../stack/services';

const BUCKET = 'drill';
/** The server name under which barman files the backups and WAL: `s3://drill/events/…`. */
const SERVER_NAME = 'events';
/** s3rver accepts exactly these credentials (its documented defaults); nothing else is ever sent. */
const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1' };

export class DrillFailure extends Error {}

/** Where the events acknowledged just before T sit in the archived WAL. */
export interface WalPosition {
  /** The WAL segment file name, e.g. 000000010000000000000005. */
  segment: string;
  /** Byte offset within that segment. */
  offset: number;
}

export interface DrillContext {
  /** s3rver's directory: every archived object is a file under it. */
  objectStoreDir: string;
  /** The end of the WAL of the events acknowledged before T (after the base backup). */
  beforeTarget: WalPosition;
}

export interface DrillOptions {
  /** Working directory (PostgreSQL data, object store, logs); created when missing. */
  dir: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Events ingested before the base backup, between it and T, and after T. */
  events?: { beforeBackup: number; beforeTarget: number; afterTarget: number };
  /** Runs after the archive is complete and before the restore: for drills of a damaged archive. */
  beforeRestore?: (ctx: DrillContext) => Promise<void> | void;
}

export interface DrillResult {
  targetTime: string;
  backupId: string;
  acknowledgedBeforeTarget: number;
  acknowledgedAfterTarget: number;
  restored: number;
  lost: number;
  extra: number;
  /** From the start of barman-cloud-restore to the restored cluster promoted and answering. */
  recoveryMs: number;
}

/** Runs a barman-cloud tool as the postgres user (it reads and writes data directories), its output kept for errors. */
function barman(tool: string, args: string[], endpoint: string): Promise<string> {
  const bin = requireExecutable([tool], 'barman-cli-cloud');
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      ['--endpoint-url', endpoint, ...args],
      { env: { ...process.env, ...S3_ENV }, ...(postgresIdentity() ?? {}), maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new DrillFailure(`${tool} failed (${err.message.split('\n')[0]}):\n${stderr || stdout}`));
        else resolve(stdout);
      },
    );
  });
}

async function query<T extends object>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Switches to a new WAL segment and waits until PostgreSQL reports every segment up to it archived. Fails once
 * the archiver has failed three times in a row (PostgreSQL's own immediate retries) since its last success.
 */
async function archiveCurrentWal(url: string): Promise<string> {
  const [row] = await query<{ wal: string }>(url, 'SELECT pg_walfile_name(pg_switch_wal()) AS wal');
  const wal = (row as { wal: string }).wal;
  const started = await archiverState(url);
  let state = started;
  await waitFor(
    `WAL segment ${wal} to be archived`,
    async () => {
      state = await archiverState(url);
      return (state.last !== null && state.last >= wal) || state.failedCount - started.failedCount >= 3;
    },
    60000,
    200,
  );
  if (state.last === null || state.last < wal) {
    throw new DrillFailure(
      `archiving WAL segment ${state.failed} failed ${state.failedCount - started.failedCount} times (archive_command: barman-cloud-wal-archive): see the PostgreSQL log`,
    );
  }
  return wal;
}

async function archiverState(url: string): Promise<{ last: string | null; failed: string | null; failedCount: number }> {
  const [a] = await query<{ last: string | null; failed: string | null; failedCount: number }>(
    url,
    'SELECT last_archived_wal AS last, last_failed_wal AS failed, failed_count::int AS "failedCount" FROM pg_stat_archiver',
  );
  return a as { last: string | null; failed: string | null; failedCount: number };
}

/** The lines PostgreSQL logged about why recovery stopped, for the failure message. */
function recoveryProblems(logFile: string): string {
  const lines = logTail(logFile, 200)
    .split('\n')
    .filter((l) => /FATAL|PANIC|invalid record|invalid magic|incorrect resource manager|recovery (stopping|ended)|could not/.test(l))
    .filter((l) => !/the database system is (starting up|not yet accepting connections)/.test(l));
  return (lines.length ? lines : logTail(logFile, 20).split('\n')).slice(-12).join('\n');
}

export async function runRestoreDrill(opts: DrillOptions): Promise<DrillResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const counts = opts.events ?? { beforeBackup: 100, beforeTarget: 300, afterTarget: 200 };
  const t0 = Date.now();
  const step = (n: number, what: string) => log(`restore-drill: [${n}/9] +${((Date.now() - t0) / 1000).toFixed(1)} s ${what}`);
  fs.mkdirSync(opts.dir, { recursive: true });
  fs.chmodSync(opts.dir, 0o755); // PostgreSQL runs as the postgres user and must reach its directories
  const identity = postgresIdentity();

  step(1, 'object store (s3rver) on loopback');
  const objectStoreDir = path.join(opts.dir, 'object-store');
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: await freePort(),
    directory: objectStoreDir,
    silent: true,
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  const { port: s3Port } = await s3.run();
  const endpoint = `http://127.0.0.1:${s3Port}`;
  const destination = `s3://${BUCKET}`;

  const walArchive = requireExecutable(['barman-cloud-wal-archive'], 'barman-cli-cloud');
  const walRestore = requireExecutable(['barman-cloud-wal-restore'], 'barman-cli-cloud');
  const source = new PostgresServer({
    dir: path.join(opts.dir, 'source'),
    port: await freePort(),
    env: S3_ENV,
    settings: [
      ['wal_level', 'replica'],
      ['archive_mode', 'on'],
      ['archive_command', `${walArchive} --endpoint-url ${endpoint} ${destination} ${SERVER_NAME} %p`],
    ],
  });
  const redis = new RedisServer({ dir: path.join(opts.dir, 'redis'), port: await freePort() });
  let restored: PostgresServer | undefined;
  let service: Awaited<ReturnType<typeof startService>> | undefined;
  try {
    step(2, 'PostgreSQL archiving WAL with barman-cloud-wal-archive; migrations; the service');
    await Promise.all([source.start(), redis.start()]);
    await runMigrations(source.url, { quiet: true, serviceUrl: source.serviceUrl });
    const adminToken = `drill-${randomBytes(24).toString('hex')}`;
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: source.serviceUrl,
      REDIS_URL: redis.url,
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: 'warn',
    });
    service = await startService(config, createLogger(config.LOG_LEVEL, fs.createWriteStream(path.join(opts.dir, 'service.log'))));
    const api = service.url;
    const res = await fetch(`${api}/api/v1/sensors`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'restore-drill' }),
    });
    if (res.status !== 201) throw new DrillFailure(`creating the drill's sensor: ${res.status} ${await res.text()}`);
    const sensor = (await res.json()) as { sensorId: string; token: string };

    /** Sends `n` events in requests of 50, four at a time; returns the ids of those acknowledged (202). */
    const ingest = async (n: number, type: string): Promise<string[]> => {
      const ids = Array.from({ length: n }, () => randomUUID());
      const batches: string[][] = [];
      for (let i = 0; i < ids.length; i += 50) batches.push(ids.slice(i, i + 50));
      const acknowledged: string[] = [];
      const worker = async () => {
        for (let batch = batches.shift(); batch; batch = batches.shift()) {
          const r = await fetch(`${api}/api/v1/events`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${sensor.token}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ events: batch.map((id, i) => ({ id, type, payload: { i } })) }),
          });
          const body = await r.text();
          if (r.status !== 202) throw new DrillFailure(`ingest answered ${r.status}: ${body}`);
          acknowledged.push(...batch);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      return acknowledged;
    };

    step(3, `${counts.beforeBackup} events through the service, then a base backup with barman-cloud-backup`);
    const beforeBackup = await ingest(counts.beforeBackup, 'drill.before_backup');
    const { hostname, port } = new URL(source.url);
    // An immediate checkpoint: a spread one (the default) makes the backup wait minutes on an idle cluster.
    await barman(
      'barman-cloud-backup',
      ['--immediate-checkpoint', '-h', hostname, '-p', port, '-U', 'postgres', destination, SERVER_NAME],
      endpoint,
    );
    const list = JSON.parse(await barman('barman-cloud-backup-list', ['--format', 'json', destination, SERVER_NAME], endpoint)) as {
      backups_list: Array<{ backup_id: string }>;
    };
    const backupId = list.backups_list.at(-1)?.backup_id;
    if (!backupId) throw new DrillFailure('barman-cloud-backup-list shows no backup after barman-cloud-backup succeeded');
    log(`restore-drill:   backup ${backupId}`);

    step(4, `${counts.beforeTarget} events, then the target time T, then ${counts.afterTarget} more`);
    const beforeTarget = [...beforeBackup, ...(await ingest(counts.beforeTarget, 'drill.before_target'))];
    // T from the server's clock, to the microsecond: commit times, which recovery compares with T, come from it too.
    const [mark] = await query<{ t: string; segment: string; offset: number }>(
      source.url,
      `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS t,
              file_name AS segment, file_offset AS offset
       FROM pg_walfile_name_offset(pg_current_wal_lsn())`,
    );
    const { t: targetTime, segment, offset } = mark as { t: string; segment: string; offset: number };
    log(`restore-drill:   T = ${targetTime} (${beforeTarget.length} events acknowledged before it)`);
    const afterTarget = await ingest(counts.afterTarget, 'drill.after_target');
    const [stored] = await query<{ n: string }>(source.url, 'SELECT count(*) AS n FROM events WHERE sensor_id = $1', [sensor.sensorId]);
    if (Number(stored?.n) !== beforeTarget.length + afterTarget.length) {
      throw new DrillFailure(`the source holds ${stored?.n} events, not the ${beforeTarget.length + afterTarget.length} acknowledged`);
    }

    step(5, 'WAL archived past T (pg_switch_wal, pg_stat_archiver); the service and the source cluster stopped');
    const lastWal = await archiveCurrentWal(source.url);
    log(`restore-drill:   archived up to ${lastWal}`);
    await service.shutdown();
    service = undefined;
    await source.stop();
    await opts.beforeRestore?.({ objectStoreDir, beforeTarget: { segment, offset } });

    step(6, `barman-cloud-restore of ${backupId} into a new data directory`);
    const started = Date.now();
    const restoreDir = path.join(opts.dir, 'restored');
    fs.mkdirSync(restoreDir, { recursive: true });
    if (identity) fs.chownSync(restoreDir, identity.uid, identity.gid);
    const dataDir = path.join(restoreDir, 'data');
    await barman('barman-cloud-restore', [destination, SERVER_NAME, backupId, dataDir], endpoint);
    fs.chmodSync(dataDir, 0o700);
    fs.writeFileSync(path.join(dataDir, 'recovery.signal'), '');
    if (identity) fs.chownSync(path.join(dataDir, 'recovery.signal'), identity.uid, identity.gid);

    step(7, `WAL replay to T with barman-cloud-wal-restore (recovery_target_time = '${targetTime}')`);
    restored = new PostgresServer({
      dir: restoreDir,
      port: await freePort(),
      env: S3_ENV,
      settings: [
        ['restore_command', `${walRestore} --endpoint-url ${endpoint} ${destination} ${SERVER_NAME} %f %p`],
        ['recovery_target_time', targetTime],
        ['recovery_target_action', 'promote'],
        ['archive_mode', 'off'],
      ],
    });
    const recoveryLog = path.join(restoreDir, 'postgres.log');
    try {
      await restored.start();
      // Polled until promoted or gone: PostgreSQL exits when recovery cannot reach T.
      await waitFor(
        'the restored cluster to reach T and promote',
        async () => {
          if (!restored?.running) return true;
          const [r] = await query<{ recovering: boolean }>(restored.adminUrl, 'SELECT pg_is_in_recovery() AS recovering');
          return r?.recovering === false;
        },
        120000,
        100,
      );
      if (!restored.running) throw new DrillFailure('PostgreSQL stopped during recovery');
    } catch (err) {
      throw new DrillFailure(
        `recovery to T failed (${(err as Error).message.split('\n')[0]}); PostgreSQL logged:\n${recoveryProblems(recoveryLog)}`,
      );
    }
    const recoveryMs = Date.now() - started;

    step(8, 'the restored events against those acknowledged');
    const rows = await query<{ id: string }>(restored.url, 'SELECT event_id::text AS id FROM events WHERE sensor_id = $1', [
      sensor.sensorId,
    ]);
    const back = new Set(rows.map((r) => r.id));
    const lost = beforeTarget.filter((id) => !back.has(id)).length;
    const wanted = new Set(beforeTarget);
    const extra = rows.filter((r) => !wanted.has(r.id)).length;
    const result: DrillResult = {
      targetTime,
      backupId,
      acknowledgedBeforeTarget: beforeTarget.length,
      acknowledgedAfterTarget: afterTarget.length,
      restored: rows.length,
      lost,
      extra,
      recoveryMs,
    };
    step(9, `${rows.length} events restored: ${lost} lost, ${extra} extra; recovery took ${(recoveryMs / 1000).toFixed(1)} s`);
    if (lost || extra) {
      throw new DrillFailure(
        `restore to T lost ${lost} of the ${beforeTarget.length} events acknowledged before T and brought back ${extra} it should not have`,
      );
    }
    return result;
  } finally {
    await service?.shutdown();
    await Promise.all([source.stop(), restored?.stop(), redis.stop()]);
    await s3.close();
  }
}
