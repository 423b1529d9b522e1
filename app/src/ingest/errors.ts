/**
 * Why the ingest use case refuses a request, in its own terms: http/ answers each reason with its code of the
 * error catalogue (`INGEST_REFUSALS` in http/error-catalogue.ts).
 */
export type IngestRefusal =
  /** The body is not a valid event or batch (`details`: a problem per offending field or index). */
  | 'invalid'
  /** A batch of more events than MAX_EVENTS_PER_REQUEST. */
  | 'too_many_events'
  /** The queue is at its bound: nothing was queued. */
  | 'queue_full'
  /** PostgreSQL rejected a value of the request (a data exception): nothing was stored. */
  | 'rejected_by_database'
  /** The flush failed in a way that may have come after COMMIT: stored or not, retrying with the same ids is safe. */
  | 'unconfirmed';

export class IngestRejected extends Error {
  constructor(
    readonly reason: IngestRefusal,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'IngestRejected';
  }
}
