/** JSON bodies only, size-limited before parsing (gzip, deflate, br and zstd bodies are limited after decoding). */
import express, { NextFunction, Request, Response } from 'express';
import { AppError } from './errors';
import { JsonShapeLimits, verifyJsonShape } from './json-shape';
import { isPlainUtf8Json, JsonReaderOptions, readUtf8Json } from './json-reader';

/** With `shape`, nesting, string length and what parsing would alter are checked before the body is parsed (json-shape.ts). */
export function jsonBody(limitBytes: number, shape?: JsonShapeLimits) {
  // One set of options for both readers, so whatever body-parser is told (a `verify` hook, say) the UTF-8 reader does too.
  const options: JsonReaderOptions = { limit: limitBytes, verify: shape && verifyJsonShape(shape) };
  const parse = express.json({ ...options, strict: false, type: () => true });
  return (req: Request, res: Response, next: NextFunction): void => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (!hasBody) return next(new AppError(400, 'empty_body', 'the request body is empty; send a JSON object'));
    if (!req.is('application/json')) {
      return next(new AppError(415, 'unsupported_media_type', 'the body must be JSON (Content-Type: application/json)'));
    }
    // body-parser would read (and discard) the whole announced body before answering 413: refuse at once and close.
    if (!req.headers['content-encoding'] && Number(req.headers['content-length']) > limitBytes) {
      res.setHeader('Connection', 'close');
      return next(new AppError(413, 'payload_too_large', 'request body is larger than the limit'));
    }
    if (!isPlainUtf8Json(req)) return parse(req, res, next);
    readUtf8Json(req, res, options, (err, body) => {
      if (err) return next(err);
      req.body = body;
      next();
    });
  };
}

/**
 * Bounds the request bodies in flight (being received, parsed or validated): per sensor (429) and
 * on the instance (503), so slow or unfinished uploads cannot exhaust memory. A refused request is
 * answered before its body is read, and its connection closed rather than drained.
 *
 * Per-sensor shares: when the instance is full and a sensor holding fewer bodies asks, the sensor holding
 * the most (at least two more) loses its oldest body, answered 429 (`evict`): a few sensors trickling slow
 * bodies cannot lock the others out. A sensor asking for more than its share gets 429; 503 `busy` is left for
 * a sensor holding none while the instance is full of sensors holding one each.
 */
export class BodyGate {
  private total = 0;
  /** Each sensor's bodies in flight, oldest first, with how to give one up. */
  private readonly perSensor = new Map<string, Set<{ evict(): void }>>();

  constructor(private readonly limits: { perSensor: number; total: number }) {}

  /** Takes a slot for this sensor; returns its (idempotent) release, or throws 429/503. `evict` answers and closes it early. */
  enter(sensorId: string, evict: () => void): () => void {
    const mine = this.perSensor.get(sensorId)?.size ?? 0;
    if (mine >= this.limits.perSensor) {
      throw new AppError(429, 'too_many_uploads', `this sensor already has ${mine} request bodies in flight; retry shortly`, undefined, {
        'Retry-After': '1',
        Connection: 'close',
      });
    }
    if (this.total >= this.limits.total) this.makeRoom(mine);
    this.total++;
    let held = this.perSensor.get(sensorId);
    if (!held) this.perSensor.set(sensorId, (held = new Set()));
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.total--;
      held.delete(slot);
      if (held.size === 0 && this.perSensor.get(sensorId) === held) this.perSensor.delete(sensorId);
    };
    const slot = {
      evict: () => {
        release();
        evict();
      },
    };
    held.add(slot);
    return release;
  }

  /**
   * The instance is full: frees a slot of the sensor holding the most bodies when that is at least two more
   * than `mine`; else refuses, with 429 when the asking sensor already holds as many as the others.
   */
  private makeRoom(mine: number): void {
    let largest: Set<{ evict(): void }> | undefined;
    for (const held of this.perSensor.values()) if (!largest || held.size > largest.size) largest = held;
    if (largest && largest.size >= mine + 2) {
      largest.values().next().value!.evict();
      return;
    }
    if (mine > 0) {
      throw new AppError(
        429,
        'too_many_uploads',
        `this sensor holds its share of request bodies in flight (${mine}); retry shortly`,
        undefined,
        {
          'Retry-After': '1',
          Connection: 'close',
        },
      );
    }
    throw new AppError(503, 'busy', 'too many request bodies in flight on this instance; retry shortly', undefined, {
      'Retry-After': '1',
      Connection: 'close',
    });
  }

  /** Bodies in flight now (for the metric). */
  get inFlight(): number {
    return this.total;
  }
}
