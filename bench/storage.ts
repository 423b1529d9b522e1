/**
 * The storage side, without HTTP: (d) PostgreSQL COPY of the rows the service stored into `events`, and (d′) into
 * a primary-key-only table, the storage limit;
 * and the service's own flush: its production path (binary COPY), the deduplicating statement it falls back
 * to, and that statement without its `event_ids` dedupe step, to show what each costs. Each measurement
 * writes into its own fresh database made from the same migrated template.
 */
import { spawn } from 'node:child_process';
import { Client, Pool } from 'pg';
import { insertEvents, rowsToJson, storeEvents, type Stored } from '../app/src/db/events-repo';
import type { EventRow } from '../app/src/ingest/validate';
import type { Acks } from './load';
import { seqOfEventSql, type Workload } from './workload';

export interface StorageResult {
  rows: number;
  seconds: number;
  rowsPerS: number;
  /** (d) and (d′): CPU time of the whole PostgreSQL cluster and of psql during the copy. */
  dbCpuMs?: number;
  clientCpuMs?: number;
}

function psql(url: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', command], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`psql failed (exit ${code}): ${stderr.trim()}`))));
  });
}

/** Runs one statement on a connection of its own and returns its rows. */
export async function query<T extends Record<string, unknown>>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** Checkpoints so far (timed and requested) and pages client backends wrote out themselves, from pg_stat_bgwriter. */
export async function bgwriter(url: string): Promise<{ checkpoints: number; backendBuffers: number }> {
  const [row] = await query<{ checkpoints: string; backend: string }>(
    url,
    'SELECT checkpoints_timed + checkpoints_req AS checkpoints, buffers_backend AS backend FROM pg_stat_bgwriter',
  );
  return { checkpoints: Number(row!.checkpoints), backendBuffers: Number(row!.backend) };
}

/** Acknowledged events whose rows are not in the database (must be 0), and acks that reported duplicates. */
export async function missingAcknowledged(url: string, sensorId: string, workload: Workload, acks: Acks) {
  const rows = await query<{ seq: number; n: string }>(
    url,
    `SELECT ${seqOfEventSql(workload.shape)} AS seq, count(*) AS n FROM events WHERE sensor_id = $1 GROUP BY 1`,
    [sensorId],
  );
  const stored = new Map(rows.map((r) => [r.seq, Number(r.n)]));
  let acknowledged = 0;
  let missing = 0;
  let partialAcks = 0;
  for (const [seq, accepted] of acks) {
    acknowledged += accepted;
    if (accepted !== workload.eventsPerRequest) partialAcks++;
    missing += Math.max(0, accepted - (stored.get(seq) ?? 0));
  }
  return { acknowledged, missing, partialAcks };
}

const COLUMNS = 'sensor_id, event_id, type, ts, received_at, payload';

/** Writes one sensor's stored events to a CSV file (client side, like the COPY that reads it back). */
export async function exportCsv(url: string, sensorId: string, file: string): Promise<void> {
  await psql(url, `\\copy (SELECT ${COLUMNS} FROM events WHERE sensor_id = '${sensorId}') TO '${file}' CSV`);
}

/** (d): `psql \copy events FROM file`, timed end to end (process start to exit), into an empty events table. */
export async function copyFromCsv(url: string, file: string, rows: number): Promise<StorageResult> {
  const start = performance.now();
  await psql(url, `\\copy events (${COLUMNS}) FROM '${file}' CSV`);
  const seconds = (performance.now() - start) / 1000;
  return { rows, seconds, rowsPerS: rows / seconds };
}

/**
 * (d′): the same `\copy` into a table whose only index is a primary key on (sensor_id, event_id, ts): no
 * partitions, no dedupe table; the cheapest durable way to keep these rows, so the storage limit itself.
 */
export async function copyIntoPrimaryKeyOnly(url: string, file: string, rows: number): Promise<StorageResult> {
  await query(
    url,
    `CREATE TABLE events_pk_only (
       sensor_id uuid NOT NULL, event_id uuid NOT NULL, type text NOT NULL, ts timestamptz NOT NULL,
       received_at timestamptz NOT NULL, payload jsonb NOT NULL, PRIMARY KEY (sensor_id, event_id, ts))`,
  );
  const start = performance.now();
  await psql(url, `\\copy events_pk_only (${COLUMNS}) FROM '${file}' CSV`);
  const seconds = (performance.now() - start) / 1000;
  return { rows, seconds, rowsPerS: rows / seconds };
}

/** The service's flush statement minus the `event_ids` step (same JSON input): bench only, for comparison. */
const INSERT_WITHOUT_DEDUPE = `
INSERT INTO events (${COLUMNS})
SELECT s, e, y, t, r, p FROM json_to_recordset($1::json) AS t(s uuid, e uuid, y text, t timestamptz, r timestamptz, p jsonb)
ON CONFLICT DO NOTHING
RETURNING sensor_id || ':' || event_id AS key`;

async function insertWithoutDedupe(pool: Pool, rows: readonly EventRow[]): Promise<Stored> {
  const result = await pool.query<{ key: string }>(INSERT_WITHOUT_DEDUPE, [rowsToJson(rows)]);
  return new Set(result.rows.map((r) => r.key));
}

export async function loadRows(url: string, sensorId: string, limit: number): Promise<EventRow[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{
      sensor_id: string;
      event_id: string;
      type: string;
      ts: Date;
      received_at: Date;
      payload: string;
      claimed: boolean;
    }>(
      `SELECT sensor_id, event_id, type, ts, received_at, payload::text AS payload,
              EXISTS (SELECT 1 FROM event_ids i WHERE i.sensor_id = e.sensor_id AND i.event_id = e.event_id) AS claimed
       FROM events e WHERE sensor_id = $1 LIMIT $2`,
      [sensorId, limit],
    );
    return rows.map((r) => ({
      sensorId: r.sensor_id,
      eventId: r.event_id,
      clientId: r.claimed,
      type: r.type,
      ts: r.ts.getTime(),
      receivedAt: r.received_at.getTime(),
      payload: r.payload,
    }));
  } finally {
    await client.end();
  }
}

/**
 * Stores `rows` in flushes of `flushRows`, `concurrency` at a time (the service's batcher settings),
 * the way production does (`copy`), by the deduplicating statement alone, or by that statement without its event_ids step.
 */
export async function flushRows(
  url: string,
  rows: readonly EventRow[],
  opts: { flushRows: number; concurrency: number; path: 'copy' | 'statement' | 'no-dedupe' },
): Promise<StorageResult> {
  const store = { copy: storeEvents, statement: insertEvents, 'no-dedupe': insertWithoutDedupe }[opts.path];
  const pool = new Pool({ connectionString: url, max: opts.concurrency });
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, () => pool.query('SELECT 1'))); // connect outside the timing
    let next = 0;
    let stored = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        while (next < rows.length) {
          const chunk = rows.slice(next, (next += opts.flushRows));
          const keys = await store(pool, chunk);
          stored += keys === 'all' ? chunk.length : keys.size;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    if (stored !== rows.length) throw new Error(`flush benchmark stored ${stored} of ${rows.length} rows`);
    return { rows: rows.length, seconds, rowsPerS: rows.length / seconds };
  } finally {
    await pool.end();
  }
}
