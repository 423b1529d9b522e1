/** Metrics of the ingest path (names, help and labels from the monitoring contract, through metric-names.ts). */
import type { Pool } from 'pg';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { SERVICE_METRICS as M } from '../observability/metric-names';

export const OTHER_TYPE = 'other';

export function createIngestMetrics(registry: Registry, typeLabelsMax: number) {
  const registers = [registry];
  const ingested = new Counter({
    ...M.eventsIngested,
    registers,
  });
  const rejected = new Counter({
    ...M.eventsRejected,
    registers,
  });
  const duplicates = new Counter({
    ...M.eventsDuplicates,
    registers,
  });
  const flushDuration = new Histogram({
    ...M.ingestFlushDuration,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const flushRows = new Histogram({
    ...M.ingestFlushRows,
    buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    registers,
  });
  const flushFailures = new Counter({
    ...M.ingestFlushFailures,
    registers,
  });
  const queueMaxRows = new Gauge({
    ...M.ingestQueueMaxRows,
    registers,
  });
  let queueState = () => ({ rows: 0, bytes: 0 });
  new Gauge({
    ...M.ingestQueueRows,
    registers,
    collect() {
      this.set(queueState().rows);
    },
  });
  new Gauge({
    ...M.ingestQueueBytes,
    registers,
    collect() {
      this.set(queueState().bytes);
    },
  });
  const rateLimitFallback = new Counter({
    ...M.rateLimitFallback,
    registers,
  });

  const knownTypes = new Set<string>();
  return {
    ingested,
    rejected,
    duplicates,
    flushDuration,
    flushRows,
    flushFailures,
    queueMaxRows,
    rateLimitFallback,
    observeQueue(fn: () => { rows: number; bytes: number }) {
      queueState = fn;
    },
    /** Bounded label set: the first `typeLabelsMax` types seen get a label of their own. */
    countIngested(type: string, count = 1) {
      if (!knownTypes.has(type) && knownTypes.size < typeLabelsMax) knownTypes.add(type);
      ingested.inc({ type: knownTypes.has(type) ? type : OTHER_TYPE }, count);
    },
  };
}

export type IngestMetrics = ReturnType<typeof createIngestMetrics>;

/** Connection pool gauges: saturation = in use / max, and requests waiting for a connection. */
export function registerPoolMetrics(registry: Registry, pool: Pool, max: number): void {
  const registers = [registry];
  new Gauge({
    ...M.dbPoolInUse,
    registers,
    collect() {
      this.set(pool.totalCount - pool.idleCount);
    },
  });
  new Gauge({
    ...M.dbPoolWaiting,
    registers,
    collect() {
      this.set(pool.waitingCount);
    },
  });
  new Gauge({ ...M.dbPoolMax, registers }).set(max);
}
