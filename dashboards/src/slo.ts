/** SLO: availability and latency SLIs, error budget remaining and burn rates, from the recording rules in alerts/rules/slo.yml. */
import { SLO } from '../../monitoring/src';
import { API_ALL, BUDGET_THRESHOLDS, dashboard, stat, timeseries } from './common';

const SLOS = ['availability', 'latency'] as const;
const WINDOWS = ['5m', '30m', '1h', '6h', '1d', '3d'];

/** Burn-rate levels of the alerts in alerts/rules/slo.yml: 1× and 3× open tickets, 6× and 14.4× page. */
const BURN_THRESHOLDS = [
  { from: null, color: 'green' },
  { from: 1, color: 'yellow' },
  { from: 3, color: 'orange' },
  { from: 6, color: 'red' },
  { from: 14.4, color: 'dark-red' },
];

const budgetRemaining = (s: string) => `1 - slo:sli_error:ratio_rate30d{slo="${s}"} / on (job, slo) (1 - slo:objective:ratio{slo="${s}"})`;

/** Burn rate = error ratio over the window / error budget (1 − objective); 1 spends the budget in exactly 30 days. */
const burn = (slo: string, w: string) => ({
  expr: `slo:sli_error:ratio_rate${w}{slo="${slo}"} / on (job, slo) (1 - slo:objective:ratio{slo="${slo}"})`,
  legend: w,
});

export const slo = () =>
  dashboard({
    uid: 'event-service-slo',
    title: 'Event service / SLO',
    description:
      'Availability (99.9% of API requests without 5xx) and latency (99% within 0.5 s) over 30 days: SLIs, error budget remaining and multi-window burn rates.',
    tags: ['slo'],
    instanceVariable: false,
    panels: [
      ...SLOS.flatMap((s) => [
        stat({
          title: `${s === 'availability' ? 'Availability' : 'Latency'} SLI (30 d)`,
          description: `Share of good API requests over 30 days for the ${s} SLO, against its objective.`,
          unit: 'percentunit',
          // Red below the objective (the objective itself shows green).
          thresholds: [
            { from: null, color: 'red' },
            { from: SLO[s].objective, color: 'green' },
          ],
          queries: [
            { expr: `1 - slo:sli_error:ratio_rate30d{slo="${s}"}`, legend: 'SLI' },
            { expr: `slo:objective:ratio{slo="${s}"}`, legend: 'objective' },
          ],
        }),
        stat({
          title: `${s === 'availability' ? 'Availability' : 'Latency'} error budget remaining`,
          description: `Share of the 30-day ${s} error budget not yet spent (negative: the objective is missed).`,
          unit: 'percentunit',
          thresholds: BUDGET_THRESHOLDS,
          queries: [{ expr: budgetRemaining(s), legend: 'remaining' }],
        }),
      ]),
      ...SLOS.map((s) =>
        timeseries({
          title: `${s === 'availability' ? 'Availability' : 'Latency'} burn rates`,
          description: `Error-budget burn rate of the ${s} SLO per window; pages at 14.4× (1h and 5m) or 6× (6h and 30m), tickets at 3× (1d and 2h) or 1× (3d and 6h).`,
          unit: 'suffix:×',
          thresholds: BURN_THRESHOLDS,
          queries: WINDOWS.map((w) => burn(s, w)),
        }),
      ),
      ...SLOS.map((s) =>
        timeseries({
          title: `${s === 'availability' ? 'Availability' : 'Latency'} error budget burn-down (30 d)`,
          description: `Share of the ${s} error budget left over the last 30 days, as it was at each point in time: a steady fall is normal, a cliff is an incident, below 0 the objective is missed.`,
          unit: 'percentunit',
          timeFrom: '30d',
          thresholds: BUDGET_THRESHOLDS,
          queries: [{ expr: budgetRemaining(s), legend: 'remaining' }],
        }),
      ),
      timeseries({
        title: 'SLIs now',
        description: 'Share of good API requests per rate interval: without 5xx (availability) and within 0.5 s (latency).',
        unit: 'percentunit',
        width: 24,
        queries: [
          {
            expr: `sum(rate(http_requests_total{${API_ALL},code!~"5.."}[$__rate_interval])) / sum(rate(http_requests_total{${API_ALL}}[$__rate_interval]))`,
            legend: 'availability',
          },
          {
            expr: `sum(rate(http_request_duration_seconds_bucket{${API_ALL},le="0.5"}[$__rate_interval])) / sum(rate(http_request_duration_seconds_count{${API_ALL}}[$__rate_interval]))`,
            legend: 'latency',
          },
        ],
      }),
    ],
  });
