/** Thin routes for events: authenticate, rate-limit, hand over to the ingest use case, respond. */
import { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response, Router } from 'express';
import type { Pool } from 'pg';
import { z } from 'zod';
import { readEvents, type StoredEvent } from '../db/events-repo';
import type { Ingest } from '../ingest/ingest';
import type { IngestMetrics } from '../ingest/metrics';
import type { RateDecision, SensorRateLimiter } from '../ingest/rate-limit';
import { isoTime, readEventsQuery } from '../ingest/schemas';
import { Authenticator, currentSensor } from './auth';
import { BodyGate, jsonBody } from './body';
import { ERRORS, rejectedReason } from './error-catalogue';
import type { JsonShapeLimits } from './json-shape';
import { ReadGate, readFailure } from './read-gate';
import { AppError, type ErrorBody, toAppError } from './errors';
import { mount } from './mount';
import { ROUTES } from './route-table';

/** IETF RateLimit headers on every rate-limited route; Retry-After when refused. */
function applyRateLimit(res: Response, d: RateDecision): void {
  const resetS = Math.ceil(d.resetMs / 1000);
  res.set({ 'RateLimit-Limit': String(d.limit), 'RateLimit-Remaining': String(d.remaining), 'RateLimit-Reset': String(resetS) });
  if (!d.allowed) {
    // Closing instead of draining: a refused request's body is never read.
    throw new AppError(429, 'rate_limited', 'this sensor is over its rate limit; retry later', undefined, {
      'Retry-After': String(Math.max(1, resetS)),
      Connection: 'close',
    });
  }
}

/**
 * Gives up a body being received because its sensor holds more than its share while another waits:
 * answered at once (the body is never read to its end) and the connection closed.
 */
function evictBody(req: Request, res: Response): void {
  if (res.headersSent) return;
  const body: ErrorBody = {
    error: {
      code: 'too_many_uploads',
      message: 'this sensor holds more than its share of request bodies in flight while other sensors wait; retry shortly',
      requestId: String(req.id),
    },
  };
  res.status(ERRORS.too_many_uploads.status).set({ 'Retry-After': '1', Connection: 'close' }).json(body);
}

/** Events a request carried, as far as can be told before validation. */
function claimedEvents(body: unknown): number {
  const events = (body as { events?: unknown } | undefined)?.events;
  return Array.isArray(events) ? events.length : 1;
}

function encodeCursor(e: { ts: string; id: string }): string {
  return Buffer.from(JSON.stringify([e.ts, e.id])).toString('base64url');
}

const cursorSchema = z.tuple([isoTime, z.uuid()]);

/** Only a cursor this service could have issued: an ISO time PostgreSQL can hold and a UUID. */
function decodeCursor(cursor: string): { ts: Date; id: string } {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString());
  } catch {
    decoded = undefined;
  }
  const parsed = cursorSchema.safeParse(decoded);
  if (!parsed.success) throw new AppError(400, 'invalid_cursor', 'cursor is not one this service issued');
  return { ts: new Date(parsed.data[0]), id: parsed.data[1] };
}

export interface EventsDeps {
  /** Reads have a pool of their own: however many wait, flushes never lack a connection. */
  readPool: Pool;
  pageMaxBytes: number;
  auth: Authenticator;
  ingest: Ingest;
  limiter: SensorRateLimiter;
  metrics: IngestMetrics;
  bodyLimit: number;
  bodies: BodyGate;
  /** Each sensor's share of the read pool. */
  reads: ReadGate;
  /** True while the readiness probe finds PostgreSQL down: ingest then answers 503 at once instead of timing out. */
  databaseDown: () => boolean;
  /** Bounds of nesting and strings, checked before a body is parsed. */
  bodyShape: JsonShapeLimits;
  /** A body costs one rate-limit unit per this many bytes (after decoding) when that is more than its events. */
  bytesPerUnit: number;
}

/** Ingest: refuse while the database is down → authenticate → charge the request → admit its body → parse → ingest. */
export function eventsRouter(deps: EventsDeps): Router {
  const router = Router();
  mount(
    router,
    ROUTES.ingestEvents,
    refuseWhileDatabaseDown(deps),
    deps.auth.requireSensor,
    chargeRequest(deps),
    admitBody(deps),
    jsonBody(deps.bodyLimit, deps.bodyShape),
    ingestBody(deps),
  );
  mount(router, ROUTES.readEvents, deps.auth.requireSensor, readPage(deps));
  router.use(countRejectedIngest(deps));
  return router;
}

function refuseWhileDatabaseDown(deps: EventsDeps): RequestHandler {
  return (_req, _res, next) => {
    if (!deps.databaseDown()) return next();
    next(
      new AppError(
        503,
        'unavailable',
        'the database is unavailable (the readiness probe finds it down): nothing was queued; retry with the same ids shortly',
        undefined,
        {
          'Retry-After': '2',
          Connection: 'close',
        },
      ),
    );
  };
}

/** Every request costs one unit up front: a sensor over its budget is refused before its body is read. */
function chargeRequest(deps: EventsDeps): RequestHandler {
  return (_req, res, next) => {
    deps.limiter
      .consume(currentSensor(res).sensorId, 1)
      .then((d) => applyRateLimit(res, d))
      .then(() => next(), next);
  };
}

function admitBody(deps: EventsDeps): RequestHandler {
  return (req, res, next) => {
    const release = deps.bodies.enter(currentSensor(res).sensorId, () => evictBody(req, res));
    res.locals.releaseBody = release;
    res.once('close', release);
    next();
  };
}

/** Units a read body costs: its events, or its size when that is more (the request paid one already). */
const bodyUnits = (res: Response, events: number, bytesPerUnit: number) =>
  Math.max(events, Math.ceil(Number(res.locals.bodyBytes ?? 0) / bytesPerUnit));

function ingestBody(deps: EventsDeps): RequestHandler {
  return async (req, res) => {
    const sensor = currentSensor(res);
    const units = bodyUnits(res, claimedEvents(req.body), deps.bytesPerUnit);
    res.locals.bodyCharged = true;
    if (units > 1) applyRateLimit(res, await deps.limiter.consume(sensor.sensorId, units - 1));
    if (res.headersSent) return; // its slot was given to another sensor meanwhile, and 429 answered: store nothing
    // Validation runs synchronously inside ingest(): once it returns, the body is rows in the bounded queue.
    const committed = deps.ingest.ingest(sensor.sensorId, req.body);
    (res.locals.releaseBody as () => void)();
    res.status(202).json(await committed);
  };
}

function readPage(deps: EventsDeps): RequestHandler {
  return async (req, res) => {
    const sensor = currentSensor(res);
    applyRateLimit(res, await deps.limiter.consume(sensor.sensorId, 1));
    const q = readEventsQuery.safeParse(req.query);
    if (!q.success) {
      throw new AppError(
        400,
        'invalid_request',
        'invalid query',
        q.error.issues.map((i) => ({
          path: i.path.join('.') || '(query)',
          message: i.code === 'unrecognized_keys' ? `unknown parameter(s): ${i.keys.join(', ')}` : i.message,
        })),
      );
    }
    const { since, until, type, limit, cursor } = q.data;
    const before = cursor ? decodeCursor(cursor) : undefined;
    const release = deps.reads.enter(sensor.sensorId);
    let events: StoredEvent[];
    try {
      events = await readEvents(deps.readPool, {
        sensorId: sensor.sensorId,
        since: since ? new Date(since) : undefined,
        until: until ? new Date(until) : undefined,
        type,
        limit: limit + 1,
        before,
      });
    } catch (err) {
      throw readFailure(err);
    } finally {
      release();
    }
    const page = pageOf(events, limit, deps.pageMaxBytes);
    // Reads are charged by what they return: the request paid one unit, each further event one more.
    await deps.limiter.charge(sensor.sensorId, page.parts.length - 1);
    const nextCursor = page.more && page.last ? `"${encodeCursor(page.last)}"` : 'null';
    res.type('json').send(`{"events":[${page.parts.join(',')}],"nextCursor":${nextCursor}}`);
  };
}

/** The page ends at `limit` events or once `maxBytes` of them are in it (always at least one); each event as its JSON. */
function pageOf(events: StoredEvent[], limit: number, maxBytes: number) {
  const parts: string[] = [];
  let bytes = 0;
  let last: StoredEvent | undefined;
  for (const e of events.slice(0, limit)) {
    if (parts.length > 0 && bytes >= maxBytes) break;
    const part =
      `{"id":"${e.id}","type":${JSON.stringify(e.type)},"ts":"${e.ts}","receivedAt":"${e.receivedAt}",` + `"payload":${e.payloadJson}}`;
    parts.push(part);
    bytes += Buffer.byteLength(part);
    last = e;
  }
  return { parts, last, more: events.length > parts.length };
}

/** Counts refused ingest requests by reason, then lets the app's error middleware answer. */
function countRejectedIngest(deps: EventsDeps): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'POST') {
      // A body read and then refused (not JSON, too deep) still cost its size: charged, never refused for it.
      if (res.locals.bodyBytes !== undefined && !res.locals.bodyCharged) {
        void deps.limiter.charge(currentSensor(res).sensorId, bodyUnits(res, 1, deps.bytesPerUnit) - 1);
      }
      deps.metrics.rejected.inc({ reason: rejectedReason(toAppError(err)) }, claimedEvents(req.body));
    }
    next(err);
  };
}
