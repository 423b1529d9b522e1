/** SQL for events: one statement per flush, and keyset-paginated reads. */
import type { Pool, PoolClient } from 'pg';
import type { EventRow } from '../ingest/validate';

/**
 * Stores a whole flush in one statement. Each (sensor, event id) is first claimed in `event_ids`;
 * only newly claimed ids go into `events`. Returns the keys actually stored: the rest were duplicates.
 */
const INSERT_FLUSH = `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::jsonb[])
    AS t(sensor_id, event_id, type, ts, received_at, payload)
), fresh AS (
  INSERT INTO event_ids (sensor_id, event_id, received_at)
  SELECT sensor_id, event_id, received_at FROM input
  ON CONFLICT DO NOTHING
  RETURNING sensor_id, event_id
), stored AS (
  INSERT INTO events (sensor_id, event_id, type, ts, received_at, payload)
  SELECT i.sensor_id, i.event_id, i.type, i.ts, i.received_at, i.payload
  FROM input i JOIN fresh f ON f.sensor_id = i.sensor_id AND f.event_id = i.event_id
  ON CONFLICT DO NOTHING
  RETURNING sensor_id, event_id
)
SELECT sensor_id || ':' || event_id AS key FROM stored`;

export async function insertEvents(db: Pool | PoolClient, rows: readonly EventRow[]): Promise<Set<string>> {
  const n = rows.length;
  const sensorIds = new Array<string>(n);
  const eventIds = new Array<string>(n);
  const types = new Array<string>(n);
  const times = new Array<Date>(n);
  const received = new Array<Date>(n);
  const payloads = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    sensorIds[i] = r.sensorId;
    eventIds[i] = r.eventId;
    types[i] = r.type;
    times[i] = r.ts;
    received[i] = r.receivedAt;
    payloads[i] = r.payload;
  }
  const result = await db.query<{ key: string }>({ text: INSERT_FLUSH, values: [sensorIds, eventIds, types, times, received, payloads] });
  return new Set(result.rows.map((r) => r.key));
}

export const eventKey = (sensorId: string, eventId: string): string => `${sensorId}:${eventId}`;

export interface StoredEvent {
  id: string;
  type: string;
  ts: string;
  receivedAt: string;
  payload: Record<string, unknown>;
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
  const { rows } = await pool.query<{ event_id: string; type: string; ts: Date; received_at: Date; payload: Record<string, unknown> }>(
    `SELECT event_id, type, ts, received_at, payload FROM events WHERE ${where.join(' AND ')}
     ORDER BY ts DESC, event_id DESC LIMIT $${values.length}`,
    values,
  );
  return rows.map((r) => ({
    id: r.event_id,
    type: r.type,
    ts: r.ts.toISOString(),
    receivedAt: r.received_at.toISOString(),
    payload: r.payload,
  }));
}
