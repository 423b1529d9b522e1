/**
 * A load driver for fault tests: sends batches of events with unique ids at a steady rate over
 * loopback, records every answer, and re-sends every batch that got no 202 with the same ids until
 * it is acknowledged. Bounded in time and in batches; it never waits on a request longer than
 * `requestTimeoutMs`, so a hanging request shows up as a long attempt, not a stuck test.
 */
import { randomUUID } from 'node:crypto';

export interface DriverOptions {
  /** Base URL of the service, e.g. http://127.0.0.1:8080. */
  url: string;
  token: string;
  eventsPerSecond: number;
  batchSize: number;
  /** Stops creating new batches after this many. */
  maxBatches: number;
  /** A request without an answer after this long is aborted and counted as "no answer". */
  requestTimeoutMs?: number;
  /** Pause before re-sending a batch that got no 202 (Retry-After, when sent, is used if shorter waits are not asked for). */
  retryDelayMs?: number;
  /** Most requests in flight at once; new batches wait for a slot (keeps a dead service from piling up sockets). */
  maxInFlight?: number;
  /**
   * Further instances of the service: a batch's retries go to the next one in turn, as a load
   * balancer would send a retry elsewhere (`url` takes every first attempt).
   */
  otherUrls?: string[];
}

export interface Attempt {
  batch: number;
  startedAt: number;
  endedAt: number;
  /** HTTP status, or undefined when the request got no HTTP answer (refused, reset, aborted). */
  status?: number;
  code?: string;
  retryAfter?: string | null;
  error?: string;
}

export interface Batch {
  index: number;
  ids: string[];
  body: string;
  attempts: Attempt[];
  /** Set by the first 202. */
  ackedAt?: number;
  accepted?: number;
  duplicates?: number;
}

export interface DriverSummary {
  batches: number;
  sent: number;
  acknowledged: number;
  unacknowledged: number;
  requests: number;
  retriedBatches: number;
  /** Events a 202 reported as duplicates: non-zero only for batches stored before an answer was lost. */
  reportedDuplicates: number;
  statuses: Record<string, number>;
  longestRequestMs: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class LoadDriver {
  readonly batches: Batch[] = [];
  private readonly opts: Required<DriverOptions>;
  private sending = false;
  private inFlight = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private readonly pending = new Set<Promise<void>>();
  private loop?: Promise<void>;

  constructor(opts: DriverOptions) {
    this.opts = { requestTimeoutMs: 15000, retryDelayMs: 300, maxInFlight: 32, otherUrls: [], ...opts };
  }

  /** Starts sending new batches at the steady rate; failed batches are re-sent in the background. */
  start(): void {
    if (this.loop) throw new Error('the driver is already running');
    this.sending = true;
    this.loop = this.run();
  }

  /** Stops creating new batches and waits for the requests in flight (their retries keep going until `settle`). */
  async stop(): Promise<void> {
    this.sending = false;
    await this.loop;
  }

  /** Re-sends every unacknowledged batch until all are acknowledged or `timeoutMs` passes. */
  async settle(timeoutMs: number): Promise<void> {
    await this.stop();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await Promise.all([...this.pending]);
      const open = this.batches.filter((b) => b.ackedAt === undefined);
      if (open.length === 0) return;
      await Promise.all(open.map((b) => this.send(b)));
      if (this.batches.some((b) => b.ackedAt === undefined)) await sleep(this.opts.retryDelayMs);
    }
  }

  attempts(): Attempt[] {
    return this.batches.flatMap((b) => b.attempts);
  }

  /** Attempts that overlap [from, to]: the requests that met a fault. */
  attemptsDuring(from: number, to: number): Attempt[] {
    return this.attempts().filter((a) => a.startedAt <= to && a.endedAt >= from);
  }

  acknowledgedIds(): string[] {
    return this.batches.filter((b) => b.ackedAt !== undefined).flatMap((b) => b.ids);
  }

  sentIds(): string[] {
    return this.batches.flatMap((b) => b.ids);
  }

  summary(): DriverSummary {
    const attempts = this.attempts();
    const statuses: Record<string, number> = {};
    for (const a of attempts) {
      const key = a.status === undefined ? 'no answer' : String(a.status);
      statuses[key] = (statuses[key] ?? 0) + 1;
    }
    const acked = this.batches.filter((b) => b.ackedAt !== undefined);
    return {
      batches: this.batches.length,
      sent: this.batches.reduce((n, b) => n + b.ids.length, 0),
      acknowledged: acked.reduce((n, b) => n + b.ids.length, 0),
      unacknowledged: this.batches.filter((b) => b.ackedAt === undefined).reduce((n, b) => n + b.ids.length, 0),
      requests: attempts.length,
      retriedBatches: this.batches.filter((b) => b.attempts.length > 1).length,
      reportedDuplicates: acked.reduce((n, b) => n + (b.duplicates ?? 0), 0),
      statuses,
      longestRequestMs: attempts.reduce((m, a) => Math.max(m, a.endedAt - a.startedAt), 0),
    };
  }

  private async run(): Promise<void> {
    const intervalMs = (1000 * this.opts.batchSize) / this.opts.eventsPerSecond;
    const t0 = Date.now();
    for (let i = 0; this.sending && i < this.opts.maxBatches; i++) {
      const due = t0 + i * intervalMs;
      if (due > Date.now()) await sleep(due - Date.now());
      if (!this.sending) break;
      await this.slot();
      const batch = this.newBatch(i);
      this.batches.push(batch);
      this.track(this.sendUntilAcked(batch));
    }
    await Promise.all([...this.pending]);
  }

  private newBatch(index: number): Batch {
    const ts = new Date().toISOString();
    const events = Array.from({ length: this.opts.batchSize }, (_, j) => ({
      id: randomUUID(),
      type: 'load',
      ts,
      payload: { batch: index, n: j },
    }));
    return { index, ids: events.map((e) => e.id), body: JSON.stringify({ events }), attempts: [] };
  }

  /** While the driver runs, a batch is re-sent after each failure; once it stops, `settle` takes over. */
  private async sendUntilAcked(batch: Batch): Promise<void> {
    for (;;) {
      const attempt = await this.send(batch);
      if (batch.ackedAt !== undefined || !this.sending) return;
      const hinted = Number(attempt.retryAfter) * 1000;
      await sleep(Number.isFinite(hinted) && hinted > 0 ? Math.min(hinted, this.opts.retryDelayMs * 3) : this.opts.retryDelayMs);
      if (!this.sending) return;
    }
  }

  private async send(batch: Batch): Promise<Attempt> {
    this.inFlight++;
    const attempt: Attempt = { batch: batch.index, startedAt: Date.now(), endedAt: 0 };
    const urls = [this.opts.url, ...this.opts.otherUrls];
    try {
      const res = await fetch(`${urls[batch.attempts.length % urls.length]}/api/v1/events`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.opts.token}`, 'Content-Type': 'application/json' },
        body: batch.body,
        signal: AbortSignal.timeout(this.opts.requestTimeoutMs),
      });
      const text = await res.text();
      attempt.status = res.status;
      attempt.retryAfter = res.headers.get('retry-after');
      let body: { accepted?: number; duplicates?: number; error?: { code?: string } } = {};
      try {
        body = JSON.parse(text);
      } catch {
        /* a non-JSON answer keeps its status; the code stays empty */
      }
      attempt.code = body.error?.code;
      if (res.status === 202 && batch.ackedAt === undefined) {
        batch.ackedAt = Date.now();
        batch.accepted = body.accepted;
        batch.duplicates = body.duplicates;
      }
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      attempt.error = cause?.code ?? (err as Error).name ?? String(err);
    } finally {
      attempt.endedAt = Date.now();
      batch.attempts.push(attempt);
      this.inFlight--;
      this.slotWaiters.shift()?.();
    }
    return attempt;
  }

  private async slot(): Promise<void> {
    while (this.inFlight >= this.opts.maxInFlight) await new Promise<void>((r) => this.slotWaiters.push(r));
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}
