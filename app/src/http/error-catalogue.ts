/**
 * Every error code the service answers, grouped by its status, with when it is answered: the one source of the
 * error table in docs/api.md (`make error-docs`). AppError accepts only these codes, each with its status.
 * Below it, every mapping of another layer's failure (Node's HTTP parser, body-parser, the ingest use case) to
 * a code of this catalogue, and the reason a refused ingest request is counted under.
 */
import type { IngestRefusal } from '../ingest/errors';

/** Status → code → when (a line of the error table). */
const CODES_BY_STATUS = {
  400: {
    bad_request: 'the request is not valid HTTP (answered by the HTTP parser; the connection is closed)',
    duplicate_authorization: 'more than one `Authorization` header',
    empty_body: 'a POST without a body',
    invalid_body_encoding: 'the body does not decode with its `Content-Encoding` (gzip, deflate, br, zstd)',
    invalid_cursor: '`cursor` is not one this service issued',
    invalid_json: 'the body is not JSON, or not valid UTF-8',
    invalid_path: 'the path is not valid percent-encoding',
    invalid_request:
      'an invalid field, query parameter or value, nesting or string length over the limits, a number a double cannot hold exactly, a repeated key (with `details`)',
    invalid_request_size: 'the body does not match its `Content-Length`',
    request_aborted: 'the client aborted the request while sending its body',
  },
  401: {
    missing_token: 'no `Authorization` header (`WWW-Authenticate: Bearer`)',
    malformed_token: 'the header is not `Bearer <token>` (the scheme in any case)',
    unknown_token: 'no sensor or admin has this token',
  },
  403: {
    forbidden: 'a sensor token on an admin route, or the admin token on a sensor route',
    token_revoked: 'the sensor has been revoked',
  },
  404: {
    not_found: 'no such route, or no such sensor',
  },
  408: {
    request_timeout: 'headers or body not received within `HTTP_HEADERS_TIMEOUT_MS` / `HTTP_REQUEST_TIMEOUT_MS`',
  },
  413: {
    payload_too_large: 'the body is over `BODY_LIMIT_BYTES` (after decompression)',
    too_many_events: 'a batch of more than `MAX_EVENTS_PER_REQUEST` events',
  },
  415: {
    unsupported_media_type: 'the body is not `application/json`',
    unsupported_encoding: 'a `Content-Encoding` other than gzip, deflate, br or zstd',
    unsupported_charset: 'a `charset` the service does not decode',
  },
  429: {
    rate_limited: "over the sensor's rate limit (`Retry-After`, `RateLimit-Limit/Remaining/Reset`)",
    too_many_uploads:
      'the sensor has `INGEST_BODIES_PER_SENSOR` bodies in flight, or more than its share while others wait (`Retry-After: 1`)',
    too_many_reads: 'the sensor has `READS_PER_SENSOR` reads in flight (`Retry-After: 1`)',
  },
  431: {
    headers_too_large: 'the request headers are too large',
  },
  500: {
    internal_error: 'a fault of the service (logged with a stack trace)',
  },
  503: {
    unavailable: 'PostgreSQL is unavailable or did not confirm a commit (`Retry-After: 2`): see below',
    queue_full: 'the ingest queue is full (`Retry-After: 1`); nothing was stored',
    busy: 'every body slot or read connection of the instance is taken (`Retry-After: 1`)',
    read_timeout: 'a read ran longer than `READ_TIMEOUT_MS`: narrow it with `since`/`until` (`Retry-After: 1`)',
  },
} as const satisfies Record<number, Record<string, string>>;

type ByStatus = typeof CODES_BY_STATUS;
type Status = keyof ByStatus;
export type ErrorCode = { [S in Status]: keyof ByStatus[S] }[Status];
export type ErrorStatus<C extends ErrorCode> = { [S in Status]: C extends keyof ByStatus[S] ? S : never }[Status];

export const ERRORS = Object.fromEntries(
  Object.entries(CODES_BY_STATUS).flatMap(([status, codes]) =>
    Object.entries(codes).map(([code, when]) => [code, { status: Number(status), when }]),
  ),
) as { [C in ErrorCode]: { status: ErrorStatus<C>; when: string } };

/** Errors Node's HTTP parser raises before Express sees a request, as [code, message]; any other is `bad_request`. */
export const HTTP_PARSER_ERRORS: Record<string, [ErrorCode, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: ['request_timeout', 'the request was not received within the time allowed'],
  HPE_HEADER_OVERFLOW: ['headers_too_large', 'the request headers are too large'],
};
export const HTTP_PARSER_DEFAULT: [ErrorCode, string] = ['bad_request', 'the request is not valid HTTP'];

/** body-parser's errors carry a `type`; each maps to a client error, never a 5xx. */
export const BODY_PARSER_ERRORS: Record<string, [ErrorCode, string]> = {
  'entity.parse.failed': ['invalid_json', 'request body is not valid JSON'],
  'entity.too.large': ['payload_too_large', 'request body is larger than the limit'],
  'encoding.unsupported': ['unsupported_encoding', 'content encoding is not supported'],
  'charset.unsupported': ['unsupported_charset', 'charset is not supported'],
  'request.aborted': ['request_aborted', 'the client aborted the request'],
  'request.size.invalid': ['invalid_request_size', 'request size did not match Content-Length'],
  'stream.encoding.set': ['internal_error', 'internal error'],
};

/** The ingest use case's refusals (its messages are its own), with the headers that tell a client when to retry. */
export const INGEST_REFUSALS: Record<IngestRefusal, { code: ErrorCode; headers?: Record<string, string> }> = {
  invalid: { code: 'invalid_request' },
  too_many_events: { code: 'too_many_events' },
  queue_full: { code: 'queue_full', headers: { 'Retry-After': '1' } },
  rejected_by_database: { code: 'invalid_request' },
  unconfirmed: { code: 'unavailable', headers: { 'Retry-After': '2' } },
};

/** The `reason` label of events_rejected_total for a refused ingest request. */
export function rejectedReason(error: { code: ErrorCode; status: number }): string {
  if (error.code === 'queue_full') return 'backpressure';
  return REJECTED_BY_STATUS[error.status] ?? 'error';
}
const REJECTED_BY_STATUS: Record<number, string> = {
  400: 'invalid',
  401: 'unauthorized',
  403: 'unauthorized',
  413: 'too_large',
  415: 'invalid',
  429: 'rate_limited',
  503: 'unavailable',
};
