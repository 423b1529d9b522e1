/**
 * Turns a request body into rows to store, or rejects the whole request: a batch is atomic, so one
 * bad event rejects all of them, with an error per offending index.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { IngestRejected } from './errors';
import { batchSchema, eventSchema } from './schemas';
import { wellFormedEvent } from './well-formed';

/**
 * The event schema compiled by zod into a generated parser (`z.compile`): the same checks and the same
 * errors (zod falls back to its runtime parser for anything the fast path rejects), about 4× cheaper per
 * event. A schema zod cannot compile would silently stay on the runtime parser; a test holds it compilable.
 */
export const compiledEventSchema = z.compile(eventSchema);

export interface EventRow {
  sensorId: string;
  eventId: string;
  /**
   * Whether the client chose the id: only those ids are claimed in `event_ids` and deduplicated. An id the
   * service makes up is new on every retry, so claiming it could never catch a duplicate.
   */
  clientId: boolean;
  type: string;
  /** Event and receive time in milliseconds since the epoch: numbers until the flush encodes them, no Date per event. */
  ts: number;
  receivedAt: number;
  /** The payload as JSON text, serialised once: measured here, sent to PostgreSQL as is. */
  payload: string;
}

/** A request's rows and what they hold in UTF-8 bytes (payloads, types, ids, times): the queue's byte bound counts this. */
export interface ValidatedRows {
  rows: EventRow[];
  bytes: number;
}

/** Two UUIDs, two times and the row object itself, roughly, beside the payload and type. */
const ROW_OVERHEAD_BYTES = 160;

export interface IngestLimits {
  MAX_EVENTS_PER_REQUEST: number;
  PAYLOAD_MAX_BYTES: number;
  PAYLOAD_MAX_DEPTH: number;
  EVENT_MAX_AGE_S: number;
  EVENT_MAX_FUTURE_S: number;
}

export interface FieldError {
  /** Index in `events` (0 for a single event); absent for request-level problems. */
  index?: number;
  path: string;
  message: string;
}

/** NUL (PostgreSQL's JSONB rejects it) and lone UTF-16 surrogates (not valid Unicode). */
// eslint-disable-next-line no-control-regex -- matching NUL is the point
const BAD_CHARS = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function badString(s: string): string | undefined {
  return BAD_CHARS.test(s) ? 'contains a NUL character or an unpaired surrogate' : undefined;
}

/** A payload problem: what is wrong, and the keys and indexes leading to it, innermost first. */
interface PayloadProblem {
  message: string;
  steps: Array<string | number>;
}

/**
 * The first problem in `value`, if any. Allocates nothing while the payload is fine (this runs for every
 * event): no key arrays, and the path to a problem is only put together once one is found.
 */
function payloadProblem(value: unknown, maxDepth: number, depth: number): PayloadProblem | undefined {
  if (typeof value === 'string') {
    const bad = badString(value);
    return bad === undefined ? undefined : { message: bad, steps: [] };
  }
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { message: 'is not a finite number', steps: [] };
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > maxDepth) return { message: `is nested deeper than ${maxDepth} levels`, steps: [] };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = payloadProblem(value[i], maxDepth, depth + 1);
      if (problem) {
        problem.steps.push(i);
        return problem;
      }
    }
    return undefined;
  }
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue; // a parsed body's objects have only own keys
    if (key === '__proto__') return { message: 'has a "__proto__" key', steps: [] };
    const bad = badString(key);
    if (bad !== undefined) return { message: `has a key that ${bad}`, steps: [] };
    const problem = payloadProblem((value as Record<string, unknown>)[key], maxDepth, depth + 1);
    if (problem) {
      problem.steps.push(key);
      return problem;
    }
  }
  return undefined;
}

/** Checks a payload without copying it: depth, characters, finite numbers, no `__proto__` keys. */
export function checkPayload(value: unknown, maxDepth: number, path = 'payload'): string | undefined {
  const problem = payloadProblem(value, maxDepth, 1);
  if (!problem) return undefined;
  let at = path;
  for (let i = problem.steps.length - 1; i >= 0; i--) {
    const step = problem.steps[i]!;
    at += typeof step === 'number' ? `[${step}]` : `.${step}`;
  }
  return `${at} ${problem.message}`;
}

function zodErrors(error: z.ZodError, index: number | undefined): FieldError[] {
  return error.issues.map((i) => ({
    ...(index === undefined ? {} : { index }),
    path: i.path.length ? i.path.join('.') : '(body)',
    message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
  }));
}

function invalid(errors: FieldError[]): IngestRejected {
  return new IngestRejected(
    'invalid',
    `the request is invalid (${errors.length} problem${errors.length > 1 ? 's' : ''}); nothing was stored`,
    errors,
  );
}

/** Validates a single event or a batch and returns its rows; throws IngestRejected (`invalid`, `too_many_events`) otherwise. */
export function toEventRows(body: unknown, sensorId: string, limits: IngestLimits, receivedAt = Date.now()): ValidatedRows {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid([{ path: '(body)', message: 'must be a JSON object: one event, or {"events": [...]}' }]);
  }
  let items: unknown[];
  let skewMs = 0;
  const isBatch = Object.prototype.hasOwnProperty.call(body, 'events');
  if (isBatch) {
    const events = (body as { events?: unknown }).events;
    if (Array.isArray(events) && events.length > limits.MAX_EVENTS_PER_REQUEST) {
      throw new IngestRejected('too_many_events', `a batch holds at most ${limits.MAX_EVENTS_PER_REQUEST} events, got ${events.length}`);
    }
    const batch = batchSchema.safeParse(body);
    if (!batch.success) throw invalid(zodErrors(batch.error, undefined));
    items = batch.data.events;
    if (batch.data.sentAt) skewMs = receivedAt - Date.parse(batch.data.sentAt);
  } else {
    items = [body];
  }

  const errors: FieldError[] = [];
  const rows: EventRow[] = [];
  let bytes = 0;
  const seen = items.length > 1 ? new Set<string>() : undefined; // repeated ids within a batch
  const minTs = receivedAt - limits.EVENT_MAX_AGE_S * 1000;
  const maxTs = receivedAt + limits.EVENT_MAX_FUTURE_S * 1000;
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    let event = wellFormedEvent(item);
    if (!event) {
      const parsed = compiledEventSchema.safeParse(item);
      if (!parsed.success) {
        errors.push(...zodErrors(parsed.error, index));
        continue;
      }
      const { id, type, ts } = parsed.data;
      event = { id, type, time: ts === undefined ? undefined : Date.parse(ts) };
    }
    const { id, type } = event;
    const payloadValue = (item as { payload: unknown }).payload; // the original, never a copy
    const problem = checkPayload(payloadValue, limits.PAYLOAD_MAX_DEPTH);
    if (problem) {
      errors.push({ index, path: 'payload', message: problem });
      continue;
    }
    const payload = JSON.stringify(payloadValue);
    const payloadBytes = Buffer.byteLength(payload);
    if (payloadBytes > limits.PAYLOAD_MAX_BYTES) {
      errors.push({ index, path: 'payload', message: `payload is larger than ${limits.PAYLOAD_MAX_BYTES} bytes as JSON` });
      continue;
    }
    const time = event.time === undefined ? receivedAt : event.time + skewMs;
    if (time < minTs || time > maxTs) {
      errors.push({
        index,
        path: 'ts',
        message: `event time ${new Date(time).toISOString()}${skewMs ? ' (after clock-skew correction)' : ''} is outside the accepted window (${limits.EVENT_MAX_AGE_S} s in the past to ${limits.EVENT_MAX_FUTURE_S} s in the future)`,
      });
      continue;
    }
    const eventId = id?.toLowerCase() ?? randomUUID();
    if (id !== undefined) {
      if (seen?.has(eventId)) {
        errors.push({ index, path: 'id', message: `id ${eventId} appears more than once in this batch` });
        continue;
      }
      seen?.add(eventId);
    }
    rows.push({ sensorId, eventId, clientId: id !== undefined, type, ts: time, receivedAt, payload });
    bytes += payloadBytes + type.length + ROW_OVERHEAD_BYTES; // `type` is ASCII by its schema
  }
  if (errors.length) throw invalid(errors);
  return { rows, bytes };
}
