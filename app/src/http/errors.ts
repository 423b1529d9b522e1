/** One application error type, and the one middleware that turns any error into a JSON response. */
import type { NextFunction, Request, Response } from 'express';
import { isDatabaseUnavailable, isDataError } from '../db/pg-errors';
import { IngestRejected } from '../ingest/errors';
import { requestLogger } from '../observability/access-log';
import { loggableUrl, type Logger } from '../observability/logger';
import { BODY_PARSER_ERRORS, ERRORS, INGEST_REFUSALS, type ErrorCode, type ErrorStatus } from './error-catalogue';

/** `status` must be the catalogue's for `code` (the compiler checks it). */
export class AppError<C extends ErrorCode = ErrorCode> extends Error {
  constructor(
    readonly status: ErrorStatus<C>,
    readonly code: C,
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

/** An error of the catalogue with its own status, for codes chosen at run time. */
export function catalogued(code: ErrorCode, message: string, details?: unknown, headers?: Record<string, string>): AppError {
  return new AppError(ERRORS[code].status, code, message, details, headers);
}

/** Codes of Node's decoders: zlib (gzip, deflate) `Z_*`, brotli `ERR__ERROR_*`, zstd `ZSTD_error_*`. */
const DECODER_ERROR = /^(Z_|ERR__ERROR_|ZSTD_error_)/;

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof IngestRejected) {
    const { code, headers } = INGEST_REFUSALS[err.reason];
    return catalogued(code, err.message, err.details, headers);
  }
  const type = (err as { type?: unknown })?.type;
  if (typeof type === 'string' && BODY_PARSER_ERRORS[type]) return catalogued(...BODY_PARSER_ERRORS[type]);
  // Decoding a body that is not what its Content-Encoding says (zlib errors carry no `type`, only their library's code).
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && DECODER_ERROR.test(code)) {
    return new AppError(400, 'invalid_body_encoding', 'the body could not be decoded with its Content-Encoding');
  }
  // The router's own client errors, such as a path parameter that is not valid percent-encoding.
  if (err instanceof URIError) return new AppError(400, 'invalid_path', 'the request path is not valid percent-encoding');
  // A PostgreSQL data exception (class 22) is caused by a value the client sent: a 4xx, never a 5xx.
  if (isDataError(err)) {
    return new AppError(400, 'invalid_request', 'PostgreSQL rejected a value of this request');
  }
  if (isDatabaseUnavailable(err)) {
    return new AppError(503, 'unavailable', 'the database is unavailable; retry shortly', undefined, { 'Retry-After': '2' });
  }
  return new AppError(500, 'internal_error', 'internal error');
}

export function notFound(req: Request, _res: Response, next: NextFunction): void {
  next(new AppError(404, 'not_found', `no route for ${req.method} ${loggableUrl(req.path)}`));
}

export function errorMiddleware(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const appError = toAppError(err);
    // A child logger carrying the request only when a line is written: most errors are clients' and logged at debug.
    if (appError.status >= 500 && appError.status !== 503) requestLogger(logger, req).error({ err }, 'request failed');
    else if (appError.status === 503)
      requestLogger(logger, req).warn({ code: appError.code, err: (err as Error)?.message }, appError.message);
    else if (logger.isLevelEnabled('debug')) requestLogger(logger, req).debug({ code: appError.code }, appError.message);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body: ErrorBody = { error: { code: appError.code, message: appError.message, requestId: String(req.id ?? '') } };
    if (appError.details !== undefined) body.error.details = appError.details;
    res.status(appError.status).set(appError.headers).json(body);
  };
}
