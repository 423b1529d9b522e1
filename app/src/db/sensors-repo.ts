/** SQL for sensors. Only the SHA-256 of a token is ever stored or looked up. */
import type { Pool } from 'pg';

export interface SensorRow {
  sensorId: string;
  name: string;
  createdAt: Date;
  revokedAt: Date | null;
}

const COLUMNS = 'id AS "sensorId", name, created_at AS "createdAt", revoked_at AS "revokedAt"';

export async function insertSensor(pool: Pool, s: { sensorId: string; name: string; tokenHash: Buffer }): Promise<SensorRow> {
  const { rows } = await pool.query<SensorRow>(`INSERT INTO sensors (id, name, token_hash) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`, [
    s.sensorId,
    s.name,
    s.tokenHash,
  ]);
  return rows[0]!;
}

export async function findSensorByTokenHash(pool: Pool, tokenHash: Buffer): Promise<SensorRow | undefined> {
  const { rows } = await pool.query<SensorRow>(`SELECT ${COLUMNS} FROM sensors WHERE token_hash = $1`, [tokenHash]);
  return rows[0];
}

export async function listSensors(pool: Pool): Promise<SensorRow[]> {
  const { rows } = await pool.query<SensorRow>(`SELECT ${COLUMNS} FROM sensors ORDER BY created_at, id`);
  return rows;
}

/** Marks a sensor revoked (idempotent); undefined when no such sensor exists. */
export async function revokeSensor(pool: Pool, sensorId: string): Promise<SensorRow | undefined> {
  const { rows } = await pool.query<SensorRow>(
    `UPDATE sensors SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
    [sensorId],
  );
  return rows[0];
}
