/** JSON logs (pino). Headers are never logged wholesale, and anything token-like is redacted. */
import pino, { DestinationStream, Logger } from 'pino';

export type { Logger };

/** Paths removed from every log line, however a secret ends up in a logged object. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'token',
  'password',
  'adminToken',
  '*.token',
  '*.password',
  '*.authorization',
  '*.ADMIN_TOKEN',
  '*.DATABASE_URL',
  '*.SERVICE_DATABASE_URL',
  '*.REDIS_URL',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'event-service' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Query parameters whose values are logged; anything else may be a credential pasted into a URL. */
const LOGGED_QUERY_PARAMS = new Set(['since', 'until', 'type', 'limit', 'cursor']);

/** Secrets masked wherever they appear in a logged URL (the admin token: `maskInUrls` at start). */
const urlSecrets = new Set<string>();

export function maskInUrls(secret: string): void {
  if (secret) urlSecrets.add(secret);
}

/**
 * The request URL as logged: unknown query parameters, anything shaped like a sensor token and the
 * registered secrets (however a client percent-encoded them) are redacted.
 */
export function loggableUrl(url: string): string {
  if ([...urlSecrets].some((secret) => url.includes(secret) || safeDecode(url).includes(secret)))
    return '[redacted: the URL held a secret]';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query =
    q < 0
      ? ''
      : `?${[...new URLSearchParams(url.slice(q + 1))]
          .map(([k, v]) => (LOGGED_QUERY_PARAMS.has(k) ? `${k}=${encodeURIComponent(v)}` : '[redacted]'))
          .join('&')}`;
  return (path + query).replace(/evs_[A-Za-z0-9_-]+/g, 'evs_[redacted]');
}

function safeDecode(url: string): string {
  try {
    return decodeURIComponent(url.replaceAll('+', ' '));
  } catch {
    return url;
  }
}
