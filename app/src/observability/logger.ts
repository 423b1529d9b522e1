/** JSON logs (pino). Headers are never logged wholesale, and anything token-like is redacted. */
import pino, { DestinationStream, Logger } from 'pino';
import { ROUTES } from '../http/route-table';

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
/** The only path whose query means anything to the service: other queries are never parsed, only marked. */
const QUERY_PATH = ROUTES.readEvents.path;
/**
 * Bounds of what a logged URL shows: the path's first characters and at most as many query parameters as
 * the service reads, each value clipped. Any URL costs the same small, bounded work to log, however long.
 */
const MAX_LOGGED_PATH = 256;
const MAX_LOGGED_VALUE = 64;

/** Secrets masked wherever they appear in a logged URL (the admin token: `maskInUrls` at start). */
const urlSecrets = new Set<string>();
let longestSecret = 0;

export function maskInUrls(secret: string): void {
  if (!secret) return;
  urlSecrets.add(secret);
  longestSecret = Math.max(longestSecret, secret.length);
}

/**
 * The request URL as logged: bounded, percent-decoded before anything is redacted (so an encoded token is
 * found too), unknown query parameters, anything shaped like a sensor token and the registered secrets redacted.
 */
export function loggableUrl(url: string): string {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  // Enough raw text to show MAX_LOGGED_PATH decoded characters (3 raw per encoded one), and to see a secret crossing the cut.
  const window = rawPath.slice(0, 3 * (MAX_LOGGED_PATH + longestSecret));
  const path = decodeEscapes(window);
  if (holdsSecret(window) || holdsSecret(path)) return '[redacted: the URL held a secret]';
  let shown = redactTokens(clip(path, MAX_LOGGED_PATH));
  if (q >= 0) shown += rawPath === QUERY_PATH ? `?${loggableQuery(url.slice(q + 1))}` : '?[redacted]';
  return shown;
}

/** At most LOGGED_QUERY_PARAMS.size parameters; split by hand, never a full parse of an arbitrary query. */
function loggableQuery(query: string): string {
  const shown: string[] = [];
  let from = 0;
  while (from <= query.length && shown.length < LOGGED_QUERY_PARAMS.size) {
    const end = query.indexOf('&', from) < 0 ? query.length : query.indexOf('&', from);
    const pair = query.slice(from, Math.min(end, from + 3 * (16 + MAX_LOGGED_VALUE + longestSecret)));
    const eq = pair.indexOf('=');
    const key = decodeEscapes(eq < 0 ? pair : pair.slice(0, eq));
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
    const value = decodeEscapes(rawValue.replaceAll('+', ' '));
    if (holdsSecret(rawValue) || holdsSecret(value)) return '[redacted: the URL held a secret]';
    shown.push(LOGGED_QUERY_PARAMS.has(key) ? `${key}=${encodeURIComponent(redactTokens(clip(value, MAX_LOGGED_VALUE)))}` : '[redacted]');
    from = end + 1;
  }
  return from < query.length ? `${shown.join('&')}&…` : shown.join('&');
}

function holdsSecret(text: string): boolean {
  for (const secret of urlSecrets) if (text.includes(secret)) return true;
  return false;
}

function redactTokens(text: string): string {
  return text.replace(/evs_[A-Za-z0-9_-]+/g, 'evs_[redacted]');
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * Decodes every run of %XX escapes that is valid UTF-8; in a run that is not, still the ASCII escapes, so an
 * invalid escape put in front of an encoded token does not hide it. A clipped or malformed escape stays raw.
 */
function decodeEscapes(text: string): string {
  if (!text.includes('%')) return text;
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run.replace(/%([0-7][0-9A-Fa-f])/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    }
  });
}
