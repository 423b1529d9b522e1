/**
 * Request and response shapes of the API, as zod schemas. They validate requests and feed the
 * OpenAPI document, so the two cannot drift apart.
 */
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { EVENT_TYPE } from './event-type';

extendZodWithOpenApi(z);

export const isoTime = z.iso.datetime({ offset: true }).openapi({ example: '2026-11-26T12:00:00.000Z' });

export const isJsonObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The payload is checked by `checkPayload` (size, depth, characters) without being copied. */
export const payloadSchema = z
  .custom<Record<string, unknown>>(isJsonObject, 'must be a JSON object')
  .openapi({ type: 'object', additionalProperties: true, description: 'Any JSON object within the size and depth limits.' });

export const eventSchema = z
  .strictObject({
    id: z.uuid().optional().openapi({
      description: 'Client-chosen UUID: the dedupe key. Generated when absent, and then not deduplicated (a retry gets a new one).',
    }),
    type: z.string().min(1).max(64).regex(EVENT_TYPE, 'must be letters, digits and _ . : - only').openapi({ example: 'temperature' }),
    ts: isoTime.optional().openapi({ description: 'Event time; defaults to the time the request is received.' }),
    payload: payloadSchema,
  })
  .openapi('Event');

export const batchSchema = z
  .strictObject({
    events: z
      .array(z.unknown())
      .min(1)
      .openapi({ type: 'array', items: { $ref: '#/components/schemas/Event' } }),
    sentAt: isoTime
      .optional()
      .openapi({ description: "The sensor's clock when sending: event times are shifted by (receivedAt − sentAt)." }),
  })
  .openapi('EventBatch');

export const acceptedSchema = z
  .object({ accepted: z.number().int(), duplicates: z.number().int() })
  .openapi('Accepted', { description: 'Sent only after every accepted event is committed in PostgreSQL.' });

/** Control characters (NUL among them: PostgreSQL text cannot hold it) and unpaired UTF-16 surrogates. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const createSensorSchema = z
  .strictObject({
    name: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .refine((n) => !UNPRINTABLE.test(n), 'must not contain control characters or unpaired surrogates'),
  })
  .openapi('CreateSensor');

export const sensorSchema = z
  .object({ sensorId: z.uuid(), name: z.string(), createdAt: isoTime, revokedAt: isoTime.nullable() })
  .openapi('Sensor');

export const createdSensorSchema = sensorSchema
  .extend({ token: z.string().openapi({ description: 'Shown once; only its SHA-256 hash is stored.' }) })
  .openapi('CreatedSensor');

/**
 * `type` is not indexed (an index on it would cost every insert): a type filter is served by the sensor's
 * (sensor, time) key, so it is allowed only within a window that bounds the rows it scans.
 */
export const TYPE_FILTER_MAX_WINDOW_S = 3600;
const TYPE_FILTER_WINDOW = `since and until at most ${TYPE_FILTER_MAX_WINDOW_S} s (${TYPE_FILTER_MAX_WINDOW_S / 3600} h) apart`;

export const readEventsQuery = z
  .strictObject({
    since: isoTime.optional().openapi({ description: 'Inclusive lower bound on event time.' }),
    until: isoTime.optional().openapi({ description: 'Exclusive upper bound on event time.' }),
    type: z
      .string()
      .regex(EVENT_TYPE)
      .max(64)
      .optional()
      .openapi({
        description: `Only events of this type; 400 unless ${TYPE_FILTER_WINDOW} (the filter is not indexed: the window bounds what it scans).`,
      }),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    cursor: z.string().max(200).optional().openapi({ description: 'nextCursor of the previous page.' }),
  })
  .superRefine((q, ctx) => {
    if (q.type === undefined) return;
    const windowMs = q.since && q.until ? Date.parse(q.until) - Date.parse(q.since) : Infinity;
    if (windowMs > TYPE_FILTER_MAX_WINDOW_S * 1000) {
      ctx.addIssue({ code: 'custom', path: ['type'], message: `type filters only within a time window: ${TYPE_FILTER_WINDOW}` });
    }
  });

export const storedEventSchema = z
  .object({ id: z.uuid(), type: z.string(), ts: isoTime, receivedAt: isoTime, payload: payloadSchema })
  .openapi('StoredEvent');

export const eventPageSchema = z
  .object({
    events: z.array(storedEventSchema),
    nextCursor: z.string().nullable().openapi({ description: 'Pass as `cursor` for the next (older) page; null at the end.' }),
  })
  .openapi('EventPage', { description: 'Newest first: ordered by event time, then id, descending.' });

export const errorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'invalid_request' }),
      message: z.string(),
      requestId: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');
