/** SQL for events: one statement per flush, and keyset-paginated reads. */
import type { Pool, PoolClient } from 'pg';
import type { EventRow } from '../ingest/validate';

/**
 * Stores a whole flush in one statement. Each (sensor, event id) is first claimed in `event_ids`;
 * only newly claimed ids go into `events`. Returns the keys actually stored: the rest were duplicates.
 *
 * The rows travel as one JSON array parameter, built by concatenation around each payload's JSON
 * text (already serialised by validation): about half the client CPU of pg's per-element array
 * encoding of six arrays, at the same database throughput (measured on 120k rows, 2000 per statement).
 */
const INSERT_FLUSH = `
WITH input AS (
  SELECT * FROM json_to_recordset($1::json) AS t(s uuid, e uuid, y text, t timestamptz, r timestamptz, p jsonb)
), fresh AS (
  INSERT INTO event_ids (sensor_id, event_id, received_at)
  SELECT s, e, r FROM input
  ON CONFLICT DO NOTHING
  RETURNING sensor_id, event_id
), stored AS (
  INSERT INTO events (sensor_id, event_id, type, ts, received_at, payload)
  SELECT i.s, i.e, i.y, i.t, i.r, i.p
  FROM input i JOIN fresh f ON f.sensor_id = i.s AND f.event_id = i.e
  ON CONFLICT DO NOTHING
  RETURNING sensor_id, event_id
)
SELECT sensor_id || ':' || event_id AS key FROM stored`;

/** The flush's rows as one JSON array; ids are UUIDs, times ISO strings, payloads valid JSON text. */
export function rowsToJson(rows: readonly EventRow[]): string {
  const parts = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    parts[i] =
      `{"s":"${r.sensorId}","e":"${r.eventId}","y":${JSON.stringify(r.type)},` +
      `"t":"${r.ts.toISOString()}","r":"${r.receivedAt.toISOString()}","p":${r.payload}}`;
  }
  return `[${parts.join(',')}]`;
}

export async function insertEvents(db: Pool | PoolClient, rows: readonly EventRow[]): Promise<Set<string>> {
  // Named: each connection parses and plans the statement once, not on every flush.
  const result = await db.query<{ key: string }>({ name: 'insert-flush', text: INSERT_FLUSH, values: [rowsToJson(rows)] });
  return new Set(result.rows.map((r) => r.key));
}

export const eventKey = (sensorId: string, eventId: string): string => `${sensorId}:${eventId}`;

/** A stored event as read back; the payload stays PostgreSQL's JSON text (never parsed and re-serialised here). */
export interface StoredEvent {
  id: string;
  type: string;
  ts: string;
  receivedAt: string;
  payloadJson: string;
}

export interface ReadQuery {
  sensorId: string;
  since?: Date;
  until?: Date;
  type?: string;
  limit: number;
  /** Keyset position: events strictly older than (ts, id). */
  before?: { ts: Date; id: string };
}

/** Newest first, ordered by (ts, event_id) descending, served by the (sensor_id, ts, event_id) key. */
export async function readEvents(pool: Pool, q: ReadQuery): Promise<StoredEvent[]> {
  const where = ['sensor_id = $1'];
  const values: unknown[] = [q.sensorId];
  const add = (sql: string, value: unknown) => {
    values.push(value);
    where.push(sql.replace('?', `$${values.length}`));
  };
  if (q.since) add('ts >= ?', q.since);
  if (q.until) add('ts < ?', q.until);
  if (q.type) add('type = ?', q.type);
  if (q.before) {
    values.push(q.before.ts, q.before.id);
    where.push(`(ts, event_id) < ($${values.length - 1}, $${values.length})`);
  }
  values.push(q.limit);
  const { rows } = await pool.query<{ event_id: string; type: string; ts: Date; received_at: Date; payload: string }>(
    `SELECT event_id, type, ts, received_at, payload::text AS payload FROM events WHERE ${where.join(' AND ')}
     ORDER BY ts DESC, event_id DESC LIMIT $${values.length}`,
    values,
  );
  return rows.map((r) => ({
    id: r.event_id,
    type: r.type,
    ts: r.ts.toISOString(),
    receivedAt: r.received_at.toISOString(),
    payloadJson: r.payload,
  }));
}
