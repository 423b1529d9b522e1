/** Ingest pipeline: the group-commit queue, its flushes, the database pool, duplicates, 429s and 503s. */
import { ROUTES } from '../../app/src/http/route-table';
import { SERVICE_METRICS as S } from '../../monitoring/src';
import { APP, dashboard, INFO, rising, stat, timeseries } from './common';

const EVENTS_ROUTE = `${APP},route="${ROUTES.ingestEvents.path}"`;

/** The headline: queue and pool saturation, duplicates and flush failures. */
const saturationStats = () => [
  stat({
    title: 'Queue saturation (max)',
    description: 'Fullest ingest queue across instances, as a share of its configured bound; 503s start at 100%.',
    unit: 'percentunit',
    thresholds: rising(0.8, 1),
    min: 0,
    max: 1,
    queries: [{ expr: `max(${S.ingestQueueRows.name}{${APP}} / ${S.ingestQueueMaxRows.name}{${APP}})`, legend: 'saturation' }],
  }),
  stat({
    title: 'Pool saturation (max)',
    description: 'Busiest database pool across instances: connections in use over the configured maximum.',
    unit: 'percentunit',
    thresholds: rising(0.8, 1),
    min: 0,
    max: 1,
    queries: [{ expr: `max(${S.dbPoolInUse.name}{${APP}} / ${S.dbPoolMax.name}{${APP}})`, legend: 'in use' }],
  }),
  stat({
    title: 'Duplicates per second',
    description: 'Events dropped as duplicates (same sensor and event id) per second.',
    unit: 'ops',
    thresholds: INFO,
    queries: [{ expr: `sum(rate(${S.eventsDuplicates.name}{${APP}}[$__rate_interval]))`, legend: 'duplicates' }],
  }),
  stat({
    title: 'Flush failures per second',
    description: 'Group commits that failed (events in them were answered with an error).',
    unit: 'ops',
    thresholds: rising(0.001, 0.1),
    queries: [{ expr: `sum(rate(${S.ingestFlushFailures.name}{${APP}}[$__rate_interval]))`, legend: 'failures' }],
  }),
];

/** The in-memory queue: depth in rows and in bytes. */
const queuePanels = () => [
  timeseries({
    title: 'Queue depth (rows)',
    description: 'Events waiting in each instance’s in-memory queue for the next group commit, and the configured bound.',
    unit: 'short',
    queries: [
      { expr: `sum by (instance) (${S.ingestQueueRows.name}{${APP}})`, legend: '{{instance}}' },
      { expr: `max(${S.ingestQueueMaxRows.name}{${APP}})`, legend: 'bound' },
    ],
  }),
  timeseries({
    title: 'Queue size (bytes)',
    description: 'Bytes of event payload waiting in each instance’s queue.',
    unit: 'bytes',
    queries: [{ expr: `sum by (instance) (${S.ingestQueueBytes.name}{${APP}})`, legend: '{{instance}}' }],
  }),
];

/** Group commits: their duration, their size, and the database pool they draw from. */
const flushPanels = () => [
  timeseries({
    title: 'Flush duration',
    description: 'Time a group commit takes (one multi-row INSERT and COMMIT), p50 and p99.',
    unit: 's',
    queries: [
      {
        expr: `histogram_quantile(0.5, sum by (le) (rate(${S.ingestFlushDuration.name}_bucket{${APP}}[$__rate_interval])))`,
        legend: 'p50',
      },
      {
        expr: `histogram_quantile(0.99, sum by (le) (rate(${S.ingestFlushDuration.name}_bucket{${APP}}[$__rate_interval])))`,
        legend: 'p99',
      },
    ],
  }),
  timeseries({
    title: 'Flush size (rows per commit)',
    description: 'Events per group commit (average) and group commits per second.',
    unit: 'short',
    queries: [
      {
        expr: `sum(rate(${S.ingestFlushRows.name}_sum{${APP}}[$__rate_interval])) / sum(rate(${S.ingestFlushRows.name}_count{${APP}}[$__rate_interval]))`,
        legend: 'rows per flush',
      },
      { expr: `sum(rate(${S.ingestFlushRows.name}_count{${APP}}[$__rate_interval]))`, legend: 'flushes/s' },
    ],
  }),
  timeseries({
    title: 'Database pool',
    description: 'Connections in use and callers waiting for a connection, per instance.',
    unit: 'short',
    queries: [
      { expr: `sum by (instance) (${S.dbPoolInUse.name}{${APP}})`, legend: 'in use {{instance}}' },
      { expr: `sum by (instance) (${S.dbPoolWaiting.name}{${APP}})`, legend: 'waiting {{instance}}' },
      { expr: `max(${S.dbPoolMax.name}{${APP}})`, legend: 'max' },
    ],
  }),
];

/** Ingest requests refused: rate limited (429) or turned away for backpressure (503). */
const refusalPanels = () => [
  timeseries({
    title: 'Rate-limited (429) and backpressure (503) responses',
    description: 'Ingest requests refused per second: 429 over a sensor’s rate limit, 503 when the queue is full (0 when none).',
    unit: 'reqps',
    queries: [
      {
        expr: `sum(rate(${S.httpRequests.name}{${EVENTS_ROUTE},code="429"}[$__rate_interval])) or vector(0)`,
        legend: '429 rate limited',
      },
      {
        expr: `sum(rate(${S.httpRequests.name}{${EVENTS_ROUTE},code="503"}[$__rate_interval])) or vector(0)`,
        legend: '503 backpressure',
      },
      { expr: `sum(rate(${S.rateLimitFallback.name}{${APP}}[$__rate_interval]))`, legend: 'in-process limit decisions (Redis down)' },
    ],
  }),
];

export const ingestPipeline = () =>
  dashboard({
    uid: 'event-service-ingest',
    title: 'Event service / Ingest pipeline',
    description:
      'Queue depth and saturation, flush duration and size, database pool saturation, duplicates, rate-limited and backpressure responses.',
    tags: ['ingest'],
    instanceVariable: true,
    panels: [...saturationStats(), ...queuePanels(), ...flushPanels(), ...refusalPanels()],
  });
