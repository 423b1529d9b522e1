/** JSON bodies only, size-limited before parsing (gzip/deflate bodies are limited after inflating). */
import express, { NextFunction, Request, Response } from 'express';
import { AppError } from './errors';
import { isPlainUtf8Json, JsonReaderOptions, readUtf8Json } from './json-reader';

export function jsonBody(limitBytes: number) {
  // One set of options for both readers, so whatever body-parser is told (a `verify` hook, say) the UTF-8 reader does too.
  const options: JsonReaderOptions = { limit: limitBytes };
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
 */
export class BodyGate {
  private total = 0;
  private readonly perSensor = new Map<string, number>();

  constructor(private readonly limits: { perSensor: number; total: number }) {}

  /** Takes a slot for this sensor; returns its (idempotent) release, or throws 429/503. */
  enter(sensorId: string): () => void {
    const mine = this.perSensor.get(sensorId) ?? 0;
    if (mine >= this.limits.perSensor) {
      throw new AppError(429, 'too_many_uploads', `this sensor already has ${mine} request bodies in flight; retry shortly`, undefined, {
        'Retry-After': '1',
        Connection: 'close',
      });
    }
    if (this.total >= this.limits.total) {
      throw new AppError(503, 'busy', 'too many request bodies in flight on this instance; retry shortly', undefined, {
        'Retry-After': '1',
        Connection: 'close',
      });
    }
    this.total++;
    this.perSensor.set(sensorId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perSensor.get(sensorId) ?? 1) - 1;
      if (left > 0) this.perSensor.set(sensorId, left);
      else this.perSensor.delete(sensorId);
    };
  }

  /** Bodies in flight now (for the metric). */
  get inFlight(): number {
    return this.total;
  }
}
