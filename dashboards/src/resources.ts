/** Resources (USE): CPU, memory, event loop, GC and heap of each instance; reachability of PostgreSQL and Redis. */
import { SERVICE_METRICS as S } from '../../monitoring/src';
import { APP, dashboard, INFO, rising, stat, timeseries, UP } from './common';

export const resources = () =>
  dashboard({
    uid: 'event-service-resources',
    title: 'Event service / Resources (USE)',
    description: 'CPU, memory, event-loop lag, garbage collection and heap per instance; PostgreSQL and Redis reachability.',
    tags: ['use'],
    instanceVariable: true,
    panels: [
      stat({
        title: 'PostgreSQL reachable',
        description: `Worst ${S.postgresUp.name} across instances: SELECT 1 during the scrape succeeded (1) or failed (0).`,
        unit: 'bool_yes_no',
        thresholds: UP,
        queries: [{ expr: `min(${S.postgresUp.name}{${APP}})`, legend: 'postgres' }],
      }),
      stat({
        title: 'Redis reachable',
        description: `Worst ${S.redisUp.name} across instances; when 0, rate limits fall back to in-process counters.`,
        unit: 'bool_yes_no',
        thresholds: UP,
        queries: [{ expr: `min(${S.redisUp.name}{${APP}})`, legend: 'redis' }],
      }),
      stat({
        title: 'Open file descriptors (max)',
        description: 'Most open file descriptors (sockets included) on any instance.',
        unit: 'short',
        thresholds: INFO,
        queries: [{ expr: `max(process_open_fds{${APP}})`, legend: 'fds' }],
      }),
      stat({
        title: 'Event-loop lag p99 (max)',
        description: 'Worst p99 event-loop lag across instances: time callbacks wait for the busy loop.',
        unit: 's',
        thresholds: rising(0.1, 0.5),
        queries: [{ expr: `max(nodejs_eventloop_lag_p99_seconds{${APP}})`, legend: 'lag p99' }],
      }),
      timeseries({
        title: 'CPU',
        description: 'CPU time used per second by each instance (1 = one full core).',
        unit: 'percentunit',
        min: 0,
        queries: [{ expr: `rate(process_cpu_seconds_total{${APP}}[$__rate_interval])`, legend: '{{instance}}' }],
      }),
      timeseries({
        title: 'Resident memory',
        description: 'Resident set size of each instance’s process.',
        unit: 'bytes',
        queries: [{ expr: `process_resident_memory_bytes{${APP}}`, legend: '{{instance}}' }],
      }),
      timeseries({
        title: 'Event-loop lag',
        description: 'Mean and p99 event-loop lag per instance; high lag delays every request.',
        unit: 's',
        queries: [
          { expr: `nodejs_eventloop_lag_seconds{${APP}}`, legend: 'mean {{instance}}' },
          { expr: `nodejs_eventloop_lag_p99_seconds{${APP}}`, legend: 'p99 {{instance}}' },
        ],
      }),
      timeseries({
        title: 'Garbage collection',
        description: 'Share of time spent in garbage collection, by GC kind, all instances.',
        unit: 'percentunit',
        queries: [{ expr: `sum by (kind) (rate(nodejs_gc_duration_seconds_sum{${APP}}[$__rate_interval]))`, legend: '{{kind}}' }],
      }),
      timeseries({
        title: 'Heap',
        description: 'V8 heap used and allocated, and external (Buffer) memory, per instance.',
        unit: 'bytes',
        queries: [
          { expr: `nodejs_heap_size_used_bytes{${APP}}`, legend: 'used {{instance}}' },
          { expr: `nodejs_heap_size_total_bytes{${APP}}`, legend: 'total {{instance}}' },
          { expr: `nodejs_external_memory_bytes{${APP}}`, legend: 'external {{instance}}' },
        ],
      }),
      timeseries({
        title: 'Dependency reachability',
        description: `${S.postgresUp.name} and ${S.redisUp.name} per instance over time (1 reachable, 0 not).`,
        unit: 'bool_yes_no',
        min: 0,
        max: 1,
        queries: [
          { expr: `${S.postgresUp.name}{${APP}}`, legend: 'postgres {{instance}}' },
          { expr: `${S.redisUp.name}{${APP}}`, legend: 'redis {{instance}}' },
        ],
      }),
    ],
  });
