/**
 * How the service reads a failure of PostgreSQL, in one place: whether the data was at fault (a client error),
 * the database unavailable (retry), or the connection still fit for another statement.
 */

/** An error PostgreSQL itself raised (an ErrorResponse: SQLSTATE code and severity), not one of the driver or the network. */
export function isServerError(err: unknown): err is { code: string; severity: string } {
  const e = err as { code?: unknown; severity?: unknown } | undefined;
  return typeof e?.code === 'string' && typeof e.severity === 'string';
}

/** A data exception (SQLSTATE class 22) raised by PostgreSQL: caused by a value the client sent, not by the database. */
export function isDataError(err: unknown): boolean {
  return isServerError(err) && err.code.startsWith('22');
}

/** A server ERROR leaves its connection ready for the next statement; FATAL, a lost connection or a client-side timeout do not. */
export function leavesConnectionUsable(err: unknown): boolean {
  return isServerError(err) && err.severity === 'ERROR';
}

/** A duplicate (unique violation), or two flushes claiming the same ids in opposite orders (deadlock). */
export function isConflict(err: unknown): boolean {
  return isServerError(err) && (err.code === '23505' || err.code === '40P01');
}

/** A statement that ran past its `statement_timeout`. */
export const isStatementTimeout = (err: unknown): boolean => (err as { code?: unknown } | undefined)?.code === '57014';

/** No pooled connection became free within the pool's `connectionTimeoutMillis`. */
export const isPoolWaitTimeout = (err: unknown): boolean =>
  /timeout exceeded when trying to connect/i.test(String((err as { message?: unknown } | undefined)?.message ?? ''));

/** Connection-level failures (server down, restarting, unreachable, timed out): answer 503, not 500. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  return (
    code.startsWith('08') || // connection exception
    code.startsWith('57P') || // admin shutdown, crash shutdown, cannot connect now
    code === '53300' || // too many connections
    isStatementTimeout(err) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH'].includes(code) ||
    /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connect ECONNREFUSED/i.test(message)
  );
}
