/**
 * The request bodies every case receives: the same events, in single-event requests or 100-event
 * batches, the batches also without ids. Event ids encode (run, request number, index), so after a run
 * the database can be asked which events of each acknowledged request it holds, without the load
 * generator keeping the ids; events sent without an id carry that reference in their payload instead.
 */
import { randomBytes } from 'node:crypto';

export type Shape = 'single' | 'batch' | 'batch-no-ids';

export const BATCH_SIZE = 100;

/** Closed-loop connections per shape (enough to keep the service's flush slots full). */
export const CONNECTIONS: Record<Shape, number> = { single: 64, batch: 32, 'batch-no-ids': 32 };

export interface Workload {
  shape: Shape;
  eventsPerRequest: number;
  /** The body of request number `seq` (0 ≤ seq < 2^28). */
  body(seq: number): string;
}

/** A realistic small reading: about 120 bytes of payload JSON (plus the reference when the event has no id). */
function eventJson(id: string, ts: string, i: number, withId: boolean): string {
  const payload = { celsius: 20 + (i % 10) / 10, humidity: 40 + (i % 7), battery: 3.1, site: 'greenhouse-7', firmware: '2.4.1' };
  return JSON.stringify(withId ? { id, type: 'temperature', ts, payload } : { type: 'temperature', ts, payload: { ...payload, ref: id } });
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

/**
 * Ids look like `RRRRRRRR-SSSS-4SSS-8III-TTTTTTTTTTTT`: R run tag, S request number, I event index,
 * T fixed per run; version 4 and variant 8 keep them valid RFC 9562 UUIDs.
 */
export function createWorkload(shape: Shape, ts: string): Workload & { runTag: string } {
  const runTag = randomBytes(4).toString('hex');
  const tail = randomBytes(6).toString('hex');
  const eventsPerRequest = shape === 'single' ? 1 : BATCH_SIZE;
  // Build the body once with marker ids, then split it at the markers: each request only joins strings.
  const marker = (i: number) => `${runTag}-@@@@-4@@@-8${hex(i, 3)}-${tail}`;
  const events = Array.from({ length: eventsPerRequest }, (_, i) => eventJson(marker(i), ts, i, shape !== 'batch-no-ids'));
  const template = shape === 'single' ? events[0]! : `{"events":[${events.join(',')}]}`;
  const parts = template.split(/@@@@-4@@@/);
  return {
    shape,
    runTag,
    eventsPerRequest,
    body(seq) {
      const s = hex(seq, 7);
      return parts.join(`${s.slice(0, 4)}-4${s.slice(4)}`);
    },
  };
}

/** The request number encoded in the id (or the payload's reference) of an event of `createWorkload` (SQL side of `body`). */
export function seqOfEventSql(shape: Shape): string {
  const ref = shape === 'batch-no-ids' ? `(payload->>'ref')` : 'event_id::text';
  return `('x' || substr(${ref}, 10, 4) || substr(${ref}, 16, 3))::bit(28)::int`;
}
