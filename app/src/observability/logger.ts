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
