/**
 * Reads share a small pool (DB_READ_POOL_MAX): each sensor may have at most READS_PER_SENSOR of them in
 * flight (more: 429 at once), so one sensor's slow reads never hold every read connection while others wait.
 */
import { isPoolWaitTimeout, isStatementTimeout } from '../db/pg-errors';
import { AppError } from './errors';

export class ReadGate {
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly perSensor: number) {}

  /** Takes one of this sensor's read slots; returns its (idempotent) release, or throws 429. */
  enter(sensorId: string): () => void {
    const mine = this.inFlight.get(sensorId) ?? 0;
    if (mine >= this.perSensor) {
      throw new AppError(429, 'too_many_reads', `this sensor already has ${mine} reads in flight; retry shortly`, undefined, {
        'Retry-After': '1',
      });
    }
    this.inFlight.set(sensorId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.inFlight.get(sensorId) ?? 1) - 1;
      if (left > 0) this.inFlight.set(sensorId, left);
      else this.inFlight.delete(sensorId);
    };
  }
}

/**
 * A read that waited too long for a connection or ran past READ_TIMEOUT_MS: the read pool is busy (or the
 * read too broad), not the database unavailable; it says so to the sensor that asked.
 */
export function readFailure(err: unknown): unknown {
  if (isStatementTimeout(err)) {
    return new AppError(503, 'read_timeout', 'the read took longer than allowed; narrow it (since, until) or retry shortly', undefined, {
      'Retry-After': '1',
    });
  }
  if (isPoolWaitTimeout(err)) {
    return new AppError(503, 'busy', 'every read connection of this instance is busy; retry shortly', undefined, { 'Retry-After': '1' });
  }
  return err;
}
