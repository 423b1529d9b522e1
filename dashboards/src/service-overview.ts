/** Service overview (RED): rate, errors and duration by route, ingest volume, version and uptime. */
import { SERVICE_METRICS as S } from '../../monitoring/src';
import { API, APP, dashboard, INFO, rising, stat, timeseries } from './common';

const REQUESTS = `${S.httpRequests.name}{${APP}}`;
const BUCKETS = `${S.httpDuration.name}_bucket{${APP}}`;

function quantile(q: number) {
  return { expr: `histogram_quantile(${q}, sum by (route, le) (rate(${BUCKETS}[$__rate_interval])))`, legend: `p${q * 100} {{route}}` };
}

/** The headline: running version, uptime, API request rate and error ratio. */
const headlineStats = () => [
  stat({
    title: 'Running version',
    description: `Versions reported by ${S.buildInfo.name}, with the number of instances running each.`,
    unit: 'none',
    thresholds: INFO,
    showName: true,
    queries: [{ expr: `count by (version, commit) (${S.buildInfo.name}{${APP}})`, legend: '{{version}} ({{commit}})' }],
  }),
  stat({
    title: 'Uptime',
    description: 'Time since the most recently started instance started (a restart resets it).',
    unit: 's',
    thresholds: INFO,
    queries: [{ expr: `min(time() - process_start_time_seconds{${APP}})`, legend: 'uptime' }],
  }),
  stat({
    title: 'API request rate',
    description: 'Requests per second to the API routes (/api/v1/…), all instances.',
    unit: 'reqps',
    thresholds: INFO,
    queries: [{ expr: `sum(rate(${S.httpRequests.name}{${API}}[$__rate_interval]))`, legend: 'requests' }],
  }),
  stat({
    title: 'API error ratio (5xx)',
    description: 'Share of API requests answered with a 5xx; 0 when there were none.',
    unit: 'percentunit',
    thresholds: rising(0.001, 0.05),
    queries: [
      {
        expr: `(sum(rate(${S.httpRequests.name}{${API},code=~"5.."}[$__rate_interval])) or vector(0)) / sum(rate(${S.httpRequests.name}{${API}}[$__rate_interval]))`,
        legend: 'errors',
      },
    ],
  }),
];

/** Rate, errors and duration by route. */
const redPanels = () => [
  timeseries({
    title: 'Request rate by route and status',
    description: 'Requests per second by route template and HTTP status code.',
    unit: 'reqps',
    queries: [{ expr: `sum by (route, code) (rate(${REQUESTS}[$__rate_interval]))`, legend: '{{route}} {{code}}' }],
  }),
  timeseries({
    title: 'Error ratio by route (5xx)',
    description: 'Share of requests to each route answered with a 5xx (0 for routes without errors).',
    unit: 'percentunit',
    min: 0,
    queries: [
      {
        expr: `(sum by (route) (rate(${S.httpRequests.name}{${APP},code=~"5.."}[$__rate_interval])) or 0 * sum by (route) (rate(${REQUESTS}[$__rate_interval]))) / sum by (route) (rate(${REQUESTS}[$__rate_interval]))`,
        legend: '{{route}}',
      },
    ],
  }),
  timeseries({
    title: 'Latency p50 / p95 / p99 by route',
    description: `Request duration quantiles by route template, from the ${S.httpDuration.name} histogram.`,
    unit: 's',
    width: 24,
    queries: [quantile(0.5), quantile(0.95), quantile(0.99)],
  }),
];

/** Events ingested by type and rejected by reason. */
const eventPanels = () => [
  timeseries({
    title: 'Events ingested per second by type',
    description: 'Events committed to PostgreSQL per second, by event type (unknown types are counted as other).',
    unit: 'ops',
    queries: [{ expr: `sum by (type) (rate(${S.eventsIngested.name}{${APP}}[$__rate_interval]))`, legend: '{{type}}' }],
  }),
  timeseries({
    title: 'Events rejected per second by reason',
    description: 'Events refused per second: invalid, too_large, rate_limited, backpressure, unavailable, unauthorized.',
    unit: 'ops',
    queries: [{ expr: `sum by (reason) (rate(${S.eventsRejected.name}{${APP}}[$__rate_interval]))`, legend: '{{reason}}' }],
  }),
];

export const serviceOverview = () =>
  dashboard({
    uid: 'event-service-overview',
    title: 'Event service / Overview (RED)',
    description: 'Request rate, errors and latency by route, events ingested and rejected, running version and uptime.',
    tags: ['red'],
    instanceVariable: true,
    panels: [...headlineStats(), ...redPanels(), ...eventPanels()],
  });
