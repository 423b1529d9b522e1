/** One application error type, and the one middleware that turns any error into a JSON response. */
import type { NextFunction, Request, Response } from 'express';
import { isDatabaseUnavailable } from '../db/pool';
import type { Logger } from '../observability/logger';

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: { code: string; message: string; requestId: string; details?: unknown };
}

/** body-parser's errors carry a `type`; each maps to a client error, never a 5xx. */
const BODY_PARSER_ERRORS: Record<string, [number, string, string]> = {
  'entity.parse.failed': [400, 'invalid_json', 'request body is not valid JSON'],
  'entity.too.large': [413, 'payload_too_large', 'request body is larger than the limit'],
  'encoding.unsupported': [415, 'unsupported_encoding', 'content encoding is not supported'],
  'charset.unsupported': [415, 'unsupported_charset', 'charset is not supported'],
  'request.aborted': [400, 'request_aborted', 'the client aborted the request'],
  'request.size.invalid': [400, 'invalid_request_size', 'request size did not match Content-Length'],
  'stream.encoding.set': [500, 'internal_error', 'internal error'],
};

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const type = (err as { type?: unknown })?.type;
  if (typeof type === 'string' && BODY_PARSER_ERRORS[type]) {
    const [status, code, message] = BODY_PARSER_ERRORS[type];
    return new AppError(status, code, message);
  }
  if (isDatabaseUnavailable(err)) {
    return new AppError(503, 'unavailable', 'the database is unavailable; retry shortly', undefined, { 'Retry-After': '2' });
  }
  return new AppError(500, 'internal_error', 'internal error');
}

export function notFound(req: Request, _res: Response, next: NextFunction): void {
  next(new AppError(404, 'not_found', `no route for ${req.method} ${req.path}`));
}

export function errorMiddleware(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const appError = toAppError(err);
    const log = (req as { log?: Logger }).log ?? logger;
    if (appError.status >= 500 && appError.status !== 503) log.error({ err }, 'request failed');
    else if (appError.status === 503) log.warn({ code: appError.code, err: (err as Error)?.message }, appError.message);
    else log.debug({ code: appError.code }, appError.message);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body: ErrorBody = { error: { code: appError.code, message: appError.message, requestId: String(req.id ?? '') } };
    if (appError.details !== undefined) body.error.details = appError.details;
    res.status(appError.status).set(appError.headers).json(body);
  };
}
