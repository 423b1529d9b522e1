/**
 * Group commit: requests queue their events; one transaction stores many requests' events at once;
 * each request is answered only after that transaction has committed (or failed).
 *
 * A flush starts as soon as one of INGEST_MAX_CONCURRENT_FLUSHES flush slots is free and takes whatever
 * queued meanwhile (up to INGEST_FLUSH_ROWS events): no fixed wait. Events therefore wait only while
 * every slot is busy, which is exactly when batching pays; under light load a request is flushed on the
 * next turn of the event loop (requests parsed in the same turn share it). INGEST_FLUSH_MS > 0 adds a
 * wait after the first queued event, for bigger flushes at the price of latency (measured slower here:
 * docs/performance.md). The queue (waiting + in flight) is bounded in events and bytes: past the bound,
 * new requests are refused at once with 503 instead of piling up.
 */
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import type { IngestMetrics } from './metrics';
import { eventKey, type Stored } from '../db/events-repo';
import { isDataError } from '../db/pg-errors';
import { IngestRejected } from './errors';
import type { EventRow } from './validate';

export interface BatcherOptions {
  flushRows: number;
  flushMs: number;
  maxConcurrent: number;
  maxRows: number;
  maxBytes: number;
}

/** The batcher's options as the service's settings give them. */
export function batcherOptions(config: Config): BatcherOptions {
  return {
    flushRows: config.INGEST_FLUSH_ROWS,
    flushMs: config.INGEST_FLUSH_MS,
    maxConcurrent: config.INGEST_MAX_CONCURRENT_FLUSHES,
    maxRows: config.INGEST_QUEUE_MAX_ROWS,
    maxBytes: config.INGEST_QUEUE_MAX_BYTES,
  };
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
}

/** Stores rows in one transaction and returns what was new: all of them, or these keys (sensorId:eventId). */
export type StoreRows = (rows: EventRow[]) => Promise<Stored>;

interface Pending {
  rows: EventRow[];
  bytes: number;
  resolve(result: IngestResult): void;
  reject(err: unknown): void;
}

export class Batcher {
  private queue: Pending[] = [];
  private queuedRows = 0;
  private queuedBytes = 0;
  private inflightRows = 0;
  private inflightBytes = 0;
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly opts: BatcherOptions,
    private readonly store: StoreRows,
    private readonly metrics: IngestMetrics,
    private readonly logger: Logger,
  ) {
    metrics.queueMaxRows.set(opts.maxRows);
    metrics.observeQueue(() => ({ rows: this.queuedRows + this.inflightRows, bytes: this.queuedBytes + this.inflightBytes }));
  }

  /** Queues one request's rows; resolves after COMMIT. Throws at once (IngestRejected `queue_full`) when the queue is full. */
  submit(rows: EventRow[], bytes: number): Promise<IngestResult> {
    const rowsAfter = this.queuedRows + this.inflightRows + rows.length;
    const bytesAfter = this.queuedBytes + this.inflightBytes + bytes;
    const empty = this.queuedRows + this.inflightRows === 0;
    if (!empty && (rowsAfter > this.opts.maxRows || bytesAfter > this.opts.maxBytes)) {
      throw new IngestRejected('queue_full', 'the ingest queue is full; retry shortly');
    }
    return new Promise<IngestResult>((resolve, reject) => {
      this.queue.push({ rows, bytes, resolve, reject });
      this.queuedRows += rows.length;
      this.queuedBytes += bytes;
      this.schedule();
    });
  }

  /** Resolves once nothing is queued or in flight (used by graceful shutdown). */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    this.flushNow();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.running >= this.opts.maxConcurrent) return; // the next finishing flush takes these rows
    if (this.queuedRows >= this.opts.flushRows) this.flushNow();
    else if (this.opts.flushMs > 0) this.timer ??= setTimeout(() => this.flushNow(), this.opts.flushMs);
    else this.immediate ??= setImmediate(() => this.flushNow());
  }

  private flushNow(): void {
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    while (this.running < this.opts.maxConcurrent && this.queue.length > 0) {
      const batch: Pending[] = [];
      let rows = 0;
      while (this.queue.length > 0 && (rows === 0 || rows + this.queue[0]!.rows.length <= this.opts.flushRows)) {
        const next = this.queue.shift()!;
        batch.push(next);
        rows += next.rows.length;
      }
      void this.runFlush(batch);
    }
  }

  private async runFlush(batch: Pending[]): Promise<void> {
    let rows = 0;
    let bytes = 0;
    for (const p of batch) {
      rows += p.rows.length;
      bytes += p.bytes;
    }
    this.queuedRows -= rows;
    this.queuedBytes -= bytes;
    this.inflightRows += rows;
    this.inflightBytes += bytes;
    this.running++;
    try {
      await this.flush(batch, true);
    } finally {
      this.running--;
      this.inflightRows -= rows;
      this.inflightBytes -= bytes;
      if (this.queue.length > 0) this.flushNow();
      else if (this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /** One transaction for the whole batch; on a data error, each request alone so one bad row fails only its own request. */
  private async flush(batch: Pending[], isolateOnDataError: boolean): Promise<void> {
    // The same event twice in one flush (a retry racing the original): the first one counts. Validation
    // already refused repeated ids within a request, so a flush of one request needs no check; ids the
    // service made up cannot repeat.
    let rows: EventRow[];
    let sent: boolean[][] | undefined; // per request and row: whether the row went into this flush (all, when undefined)
    if (batch.length === 1) rows = batch[0]!.rows;
    else {
      rows = [];
      sent = [];
      const seen = new Map<string, Set<string>>(); // sensor → event ids
      for (const p of batch) {
        sent.push(
          p.rows.map((r) => {
            if (!r.clientId) {
              rows.push(r);
              return true;
            }
            let ids = seen.get(r.sensorId);
            if (!ids) seen.set(r.sensorId, (ids = new Set()));
            if (ids.has(r.eventId)) return false;
            ids.add(r.eventId);
            rows.push(r);
            return true;
          }),
        );
      }
    }
    const end = this.metrics.flushDuration.startTimer();
    let stored: Stored;
    try {
      stored = await this.store(rows);
    } catch (err) {
      end();
      this.metrics.flushFailures.inc();
      if (isolateOnDataError && batch.length > 1 && isDataError(err)) {
        for (const p of batch) await this.flush([p], false);
        return;
      }
      this.logger.error({ err, rows: rows.length, requests: batch.length }, 'flush failed');
      const reply = isDataError(err)
        ? new IngestRejected('rejected_by_database', 'PostgreSQL rejected an event of this request; nothing was stored')
        : // Not "nothing was stored": a connection lost or a client-side timeout may come after COMMIT.
          new IngestRejected(
            'unconfirmed',
            'events could not be confirmed as stored; retry with the same ids (safe: stored ones count as duplicates)',
          );
      for (const p of batch) p.reject(reply);
      return;
    }
    end();
    this.metrics.flushRows.observe(rows.length);
    batch.forEach((p, i) => {
      let accepted = 0;
      // Counted per run of the same type (a batch is mostly one type): one counter update per run, not per event.
      let runType = '';
      let run = 0;
      p.rows.forEach((r, j) => {
        if ((!sent || sent[i]![j]) && (stored === 'all' || stored.has(eventKey(r.sensorId, r.eventId)))) {
          accepted++;
          if (r.type !== runType) {
            if (run) this.metrics.countIngested(runType, run);
            runType = r.type;
            run = 0;
          }
          run++;
        }
      });
      if (run) this.metrics.countIngested(runType, run);
      const duplicates = p.rows.length - accepted;
      if (duplicates) this.metrics.duplicates.inc(duplicates);
      p.resolve({ accepted, duplicates });
    });
  }
}
