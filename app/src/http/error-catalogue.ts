/**
 * Every error code the service answers, with its status and when it is answered: the one source of the
 * error table in docs/api.md (`make error-docs`). AppError accepts only these codes, each with its status.
 */
export const ERRORS = {
  bad_request: { status: 400, when: 'the request is not valid HTTP (answered by the HTTP parser; the connection is closed)' },
  duplicate_authorization: { status: 400, when: 'more than one `Authorization` header' },
  empty_body: { status: 400, when: 'a POST without a body' },
  invalid_body_encoding: { status: 400, when: 'the body does not decode with its `Content-Encoding` (gzip, deflate, br, zstd)' },
  invalid_cursor: { status: 400, when: '`cursor` is not one this service issued' },
  invalid_json: { status: 400, when: 'the body is not JSON, or not valid UTF-8' },
  invalid_path: { status: 400, when: 'the path is not valid percent-encoding' },
  invalid_request: {
    status: 400,
    when: 'an invalid field, query parameter or value, nesting or string length over the limits, a number a double cannot hold exactly, a repeated key (with `details`)',
  },
  invalid_request_size: { status: 400, when: 'the body does not match its `Content-Length`' },
  request_aborted: { status: 400, when: 'the client aborted the request while sending its body' },
  missing_token: { status: 401, when: 'no `Authorization` header (`WWW-Authenticate: Bearer`)' },
  malformed_token: { status: 401, when: 'the header is not `Bearer <token>` (the scheme in any case)' },
  unknown_token: { status: 401, when: 'no sensor or admin has this token' },
  forbidden: { status: 403, when: 'a sensor token on an admin route, or the admin token on a sensor route' },
  token_revoked: { status: 403, when: 'the sensor has been revoked' },
  not_found: { status: 404, when: 'no such route, or no such sensor' },
  request_timeout: { status: 408, when: 'headers or body not received within `HTTP_HEADERS_TIMEOUT_MS` / `HTTP_REQUEST_TIMEOUT_MS`' },
  payload_too_large: { status: 413, when: 'the body is over `BODY_LIMIT_BYTES` (after decompression)' },
  too_many_events: { status: 413, when: 'a batch of more than `MAX_EVENTS_PER_REQUEST` events' },
  unsupported_media_type: { status: 415, when: 'the body is not `application/json`' },
  unsupported_encoding: { status: 415, when: 'a `Content-Encoding` other than gzip, deflate, br or zstd' },
  unsupported_charset: { status: 415, when: 'a `charset` the service does not decode' },
  rate_limited: { status: 429, when: "over the sensor's rate limit (`Retry-After`, `RateLimit-Limit/Remaining/Reset`)" },
  too_many_uploads: {
    status: 429,
    when: 'the sensor has `INGEST_BODIES_PER_SENSOR` bodies in flight, or more than its share while others wait (`Retry-After: 1`)',
  },
  too_many_reads: { status: 429, when: 'the sensor has `READS_PER_SENSOR` reads in flight (`Retry-After: 1`)' },
  headers_too_large: { status: 431, when: 'the request headers are too large' },
  internal_error: { status: 500, when: 'a fault of the service (logged with a stack trace)' },
  unavailable: { status: 503, when: 'PostgreSQL is unavailable or did not confirm a commit (`Retry-After: 2`): see below' },
  queue_full: { status: 503, when: 'the ingest queue is full (`Retry-After: 1`); nothing was stored' },
  busy: { status: 503, when: 'every body slot or read connection of the instance is taken (`Retry-After: 1`)' },
  read_timeout: { status: 503, when: 'a read ran longer than `READ_TIMEOUT_MS`: narrow it with `since`/`until` (`Retry-After: 1`)' },
} as const satisfies Record<string, { status: number; when: string }>;

export type ErrorCode = keyof typeof ERRORS;
export type ErrorStatus<C extends ErrorCode> = (typeof ERRORS)[C]['status'];
