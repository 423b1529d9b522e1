/** Many distinct sensors created in SQL (fast), with tokens both SQL and the load generator derive from their number. */
import { createHash } from 'node:crypto';
import { query } from './storage';

/** The token of sensor number `g`, as SQL derives it. */
const TOKEN_SQL = `'evs_' || rtrim(translate(encode(sha256(('bench-sensor-' || g)::bytea), 'base64'), '+/', '-_'), '=')`;
const tokenOf = (g: number) => `evs_${createHash('sha256').update(`bench-sensor-${g}`).digest('base64url')}`;

/** Creates sensors 1…count (each with the hash of its derived token) and returns their tokens. */
export async function createManySensors(databaseUrl: string, count: number): Promise<string[]> {
  await query(
    databaseUrl,
    `INSERT INTO sensors (id, name, token_hash)
     SELECT gen_random_uuid(), 'many-' || g, sha256(convert_to(${TOKEN_SQL}, 'UTF8')) FROM generate_series(1, $1::int) AS g`,
    [count],
  );
  return Array.from({ length: count }, (_, i) => tokenOf(i + 1));
}
