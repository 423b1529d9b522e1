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

/** The local S3 the WAL and the base backups go to, as barman addresses it. */
interface ObjectStore {
  s3: S3rver;
  dir: string;
  endpoint: string;
  destination: string;
}

/** The ids and timing of what was ingested and marked on the source cluster. */
interface Ingested {
  sensorId: string;
  beforeTarget: string[];
  afterTarget: string[];
  targetTime: string;
  walAtTarget: WalPosition;
}

async function startObjectStore(dir: string): Promise<ObjectStore> {
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: await freePort(),
    directory: dir,
    silent: true,
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  const { port } = await s3.run();
  return { s3, dir, endpoint: `http://127.0.0.1:${port}`, destination: `s3://${BUCKET}` };
}

/** A PostgreSQL whose archive_command is barman-cloud-wal-archive to the object store. */
async function archivingCluster(dir: string, store: ObjectStore): Promise<PostgresServer> {
  const walArchive = requireExecutable(['barman-cloud-wal-archive'], 'barman-cli-cloud');
  return new PostgresServer({
    dir,
    port: await freePort(),
    env: S3_ENV,
    settings: [
      ['wal_level', 'replica'],
      ['archive_mode', 'on'],
      ['archive_command', `${walArchive} --endpoint-url ${store.endpoint} ${store.destination} ${SERVER_NAME} %p`],
    ],
  });
}

type Service = Awaited<ReturnType<typeof startService>>;

/** The real service on the source cluster, and a sensor of the drill's own. */
async function startServiceWithSensor(
  source: PostgresServer,
  redis: RedisServer,
  logFile: string,
): Promise<{ service: Service; sensor: { sensorId: string; token: string } }> {
  const adminToken = `drill-${randomBytes(24).toString('hex')}`;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: source.serviceUrl,
    REDIS_URL: redis.url,
    ADMIN_TOKEN: adminToken,
    LOG_LEVEL: 'warn',
  });
  const service = await startService(config, createLogger(config.LOG_LEVEL, fs.createWriteStream(logFile)));
  const res = await fetch(`${service.url}/api/v1/sensors`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'restore-drill' }),
  });
  if (res.status !== 201) {
    await service.shutdown();
    throw new DrillFailure(`creating the drill's sensor: ${res.status} ${await res.text()}`);
  }
  return { service, sensor: (await res.json()) as { sensorId: string; token: string } };
}

/** Sends `n` events in requests of 50, four at a time; returns the ids of those acknowledged (202). */
async function ingest(api: string, token: string, n: number, type: string): Promise<string[]> {
  const ids = Array.from({ length: n }, () => randomUUID());
  const batches: string[][] = [];
  for (let i = 0; i < ids.length; i += 50) batches.push(ids.slice(i, i + 50));
  const acknowledged: string[] = [];
  const worker = async () => {
    for (let batch = batches.shift(); batch; batch = batches.shift()) {
      const r = await fetch(`${api}/api/v1/events`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ events: batch.map((id, i) => ({ id, type, payload: { i } })) }),
      });
      const body = await r.text();
      if (r.status !== 202) throw new DrillFailure(`ingest answered ${r.status}: ${body}`);
      acknowledged.push(...batch);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return acknowledged;
}

/** barman-cloud-backup of the source cluster; returns the id barman-cloud-backup-list gives it. */
async function takeBaseBackup(source: PostgresServer, store: ObjectStore): Promise<string> {
  const { hostname, port } = new URL(source.url);
  // An immediate checkpoint: a spread one (the default) makes the backup wait minutes on an idle cluster.
  await barman(
    'barman-cloud-backup',
    ['--immediate-checkpoint', '-h', hostname, '-p', port, '-U', 'postgres', store.destination, SERVER_NAME],
    store.endpoint,
  );
  const list = JSON.parse(
    await barman('barman-cloud-backup-list', ['--format', 'json', store.destination, SERVER_NAME], store.endpoint),
  ) as {
    backups_list: Array<{ backup_id: string }>;
  };
  const backupId = list.backups_list.at(-1)?.backup_id;
  if (!backupId) throw new DrillFailure('barman-cloud-backup-list shows no backup after barman-cloud-backup succeeded');
  return backupId;
}

/** T from the server's clock, to the microsecond (commit times, which recovery compares with T, come from it too), and the WAL position then. */
async function markTargetTime(url: string): Promise<{ targetTime: string; walAtTarget: WalPosition }> {
  const [mark] = await query<{ t: string; segment: string; offset: number }>(
    url,
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS t,
            file_name AS segment, file_offset AS offset
     FROM pg_walfile_name_offset(pg_current_wal_lsn())`,
  );
  const { t, segment, offset } = mark as { t: string; segment: string; offset: number };
  return { targetTime: t, walAtTarget: { segment, offset } };
}

/** Events before T, T, events after T; checks the source holds every one acknowledged. */
async function ingestAroundTarget(
  source: PostgresServer,
  api: string,
  sensor: { sensorId: string; token: string },
  beforeBackup: string[],
  counts: { beforeTarget: number; afterTarget: number },
  log: (line: string) => void,
): Promise<Ingested> {
  const beforeTarget = [...beforeBackup, ...(await ingest(api, sensor.token, counts.beforeTarget, 'drill.before_target'))];
  const { targetTime, walAtTarget } = await markTargetTime(source.url);
  log(`restore-drill:   T = ${targetTime} (${beforeTarget.length} events acknowledged before it)`);
  const afterTarget = await ingest(api, sensor.token, counts.afterTarget, 'drill.after_target');
  const [stored] = await query<{ n: string }>(source.url, 'SELECT count(*) AS n FROM events WHERE sensor_id = $1', [sensor.sensorId]);
  if (Number(stored?.n) !== beforeTarget.length + afterTarget.length) {
    throw new DrillFailure(`the source holds ${stored?.n} events, not the ${beforeTarget.length + afterTarget.length} acknowledged`);
  }
  return { sensorId: sensor.sensorId, beforeTarget, afterTarget, targetTime, walAtTarget };
}

/** barman-cloud-restore of the backup into `<restoreDir>/data`, made ready to recover (recovery.signal). */
async function restoreBaseBackup(restoreDir: string, store: ObjectStore, backupId: string): Promise<void> {
  const identity = postgresIdentity();
  fs.mkdirSync(restoreDir, { recursive: true });
  if (identity) fs.chownSync(restoreDir, identity.uid, identity.gid);
  const dataDir = path.join(restoreDir, 'data');
  await barman('barman-cloud-restore', [store.destination, SERVER_NAME, backupId, dataDir], store.endpoint);
  fs.chmodSync(dataDir, 0o700);
  fs.writeFileSync(path.join(dataDir, 'recovery.signal'), '');
  if (identity) fs.chownSync(path.join(dataDir, 'recovery.signal'), identity.uid, identity.gid);
}

/** The restored cluster, replaying archived WAL with barman-cloud-wal-restore up to T, then promoted. */
function recoveringCluster(restoreDir: string, port: number, store: ObjectStore, targetTime: string): PostgresServer {
  const walRestore = requireExecutable(['barman-cloud-wal-restore'], 'barman-cli-cloud');
  return new PostgresServer({
    dir: restoreDir,
    port,
    env: S3_ENV,
    settings: [
      ['restore_command', `${walRestore} --endpoint-url ${store.endpoint} ${store.destination} ${SERVER_NAME} %f %p`],
      ['recovery_target_time', targetTime],
      ['recovery_target_action', 'promote'],
      ['archive_mode', 'off'],
    ],
  });
}

/** Starts the restored cluster and waits until it reached T and promoted; fails with PostgreSQL's reasons when it cannot. */
async function recoverToTarget(restored: PostgresServer, recoveryLog: string): Promise<void> {
  try {
    await restored.start();
    // Polled until promoted or gone: PostgreSQL exits when recovery cannot reach T.
    await waitFor(
      'the restored cluster to reach T and promote',
      async () => {
        if (!restored.running) return true;
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
}

/** The restored events against those acknowledged before T. */
async function compareRestored(restored: PostgresServer, ingested: Ingested): Promise<{ restored: number; lost: number; extra: number }> {
  const rows = await query<{ id: string }>(restored.url, 'SELECT event_id::text AS id FROM events WHERE sensor_id = $1', [
    ingested.sensorId,
  ]);
  const back = new Set(rows.map((r) => r.id));
  const wanted = new Set(ingested.beforeTarget);
  return {
    restored: rows.length,
    lost: ingested.beforeTarget.filter((id) => !back.has(id)).length,
    extra: rows.filter((r) => !wanted.has(r.id)).length,
  };
}

export async function runRestoreDrill(opts: DrillOptions): Promise<DrillResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const counts = opts.events ?? { beforeBackup: 100, beforeTarget: 300, afterTarget: 200 };
  const t0 = Date.now();
  const step = (n: number, what: string) => log(`restore-drill: [${n}/9] +${((Date.now() - t0) / 1000).toFixed(1)} s ${what}`);
  fs.mkdirSync(opts.dir, { recursive: true });
  fs.chmodSync(opts.dir, 0o755); // PostgreSQL runs as the postgres user and must reach its directories

  step(1, 'object store (s3rver) on loopback');
  const store = await startObjectStore(path.join(opts.dir, 'object-store'));
  const source = await archivingCluster(path.join(opts.dir, 'source'), store);
  const redis = new RedisServer({ dir: path.join(opts.dir, 'redis'), port: await freePort() });
  let restored: PostgresServer | undefined;
  let service: Service | undefined;
  try {
    step(2, 'PostgreSQL archiving WAL with barman-cloud-wal-archive; migrations; the service');
    await Promise.all([source.start(), redis.start()]);
    await runMigrations(source.url, { quiet: true, serviceUrl: source.serviceUrl });
    const started = await startServiceWithSensor(source, redis, path.join(opts.dir, 'service.log'));
    service = started.service;
    const { sensor } = started;

    step(3, `${counts.beforeBackup} events through the service, then a base backup with barman-cloud-backup`);
    const beforeBackup = await ingest(service.url, sensor.token, counts.beforeBackup, 'drill.before_backup');
    const backupId = await takeBaseBackup(source, store);
    log(`restore-drill:   backup ${backupId}`);

    step(4, `${counts.beforeTarget} events, then the target time T, then ${counts.afterTarget} more`);
    const ingested = await ingestAroundTarget(source, service.url, sensor, beforeBackup, counts, log);

    step(5, 'WAL archived past T (pg_switch_wal, pg_stat_archiver); the service and the source cluster stopped');
    log(`restore-drill:   archived up to ${await archiveCurrentWal(source.url)}`);
    await service.shutdown();
    service = undefined;
    await source.stop();
    await opts.beforeRestore?.({ objectStoreDir: store.dir, beforeTarget: ingested.walAtTarget });

    step(6, `barman-cloud-restore of ${backupId} into a new data directory`);
    const restoreStarted = Date.now();
    const restoreDir = path.join(opts.dir, 'restored');
    await restoreBaseBackup(restoreDir, store, backupId);

    step(7, `WAL replay to T with barman-cloud-wal-restore (recovery_target_time = '${ingested.targetTime}')`);
    restored = recoveringCluster(restoreDir, await freePort(), store, ingested.targetTime);
    await recoverToTarget(restored, path.join(restoreDir, 'postgres.log'));
    const recoveryMs = Date.now() - restoreStarted;

    step(8, 'the restored events against those acknowledged');
    const outcome = await compareRestored(restored, ingested);
    const { lost, extra } = outcome;
    step(9, `${outcome.restored} events restored: ${lost} lost, ${extra} extra; recovery took ${(recoveryMs / 1000).toFixed(1)} s`);
    if (lost || extra) {
      throw new DrillFailure(
        `restore to T lost ${lost} of the ${ingested.beforeTarget.length} events acknowledged before T and brought back ${extra} it should not have`,
      );
    }
    return {
      targetTime: ingested.targetTime,
      backupId,
      acknowledgedBeforeTarget: ingested.beforeTarget.length,
      acknowledgedAfterTarget: ingested.afterTarget.length,
      ...outcome,
      recoveryMs,
    };
  } finally {
    await service?.shutdown();
    await Promise.all([source.stop(), restored?.stop(), redis.stop()]);
    await store.s3.close();
  }
}
