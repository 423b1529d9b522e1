/** SLO: availability and latency SLIs, error budget remaining and burn rates, from the SLO recording rules (monitoring/src/rules.ts). */
import {
  BURN_WINDOWS,
  SERVICE_METRICS as S,
  SLI_WINDOWS,
  sliErrorRecord,
  SLO,
  SLO_OBJECTIVE_RECORD,
  SLO_WINDOW,
} from '../../monitoring/src';
import { API_ALL, BUDGET_THRESHOLDS, dashboard, stat, timeseries } from './common';

const SLOS = ['availability', 'latency'] as const;

/** Burn-rate levels of the SLO alerts, lowest first, each a warmer colour. */
const BURN_COLORS = ['yellow', 'orange', 'red', 'dark-red'];
const BURN_THRESHOLDS = [
  { from: null, color: 'green' },
  ...[...new Set(BURN_WINDOWS.map((w) => w.factor))].sort((a, b) => a - b).map((from, i) => ({ from, color: BURN_COLORS[i]! })),
];

/** "pages at 14.4× (1h and 5m) or 6× (6h and 30m), tickets at …": the alert levels in the panel description. */
const burnLevels = (severity: string) =>
  BURN_WINDOWS.filter((w) => w.severity === severity)
    .map((w) => `${w.factor}× (${w.long} and ${w.short})`)
    .join(' or ');

const objective = (s: string) => `${SLO_OBJECTIVE_RECORD}{slo="${s}"}`;
const budgetRemaining = (s: string) => `1 - ${sliErrorRecord(SLO_WINDOW)}{slo="${s}"} / on (job, slo) (1 - ${objective(s)})`;

/** Burn rate = error ratio over the window / error budget (1 − objective); 1 spends the budget in exactly the SLO window. */
const burn = (slo: string, w: string) => ({
  expr: `${sliErrorRecord(w)}{slo="${slo}"} / on (job, slo) (1 - ${objective(slo)})`,
  legend: w,
});

const pct = (x: number) => `${+(x * 100).toFixed(6)}%`;
const days = `${SLO.windowDays} d`;
const le = `le="${SLO.latency.thresholdSeconds}"`;

export const slo = () =>
  dashboard({
    uid: 'event-service-slo',
    title: 'Event service / SLO',
    description: `Availability (${pct(SLO.availability.objective)} of API requests without 5xx) and latency (${pct(SLO.latency.objective)} within ${SLO.latency.thresholdSeconds} s) over ${SLO.windowDays} days: SLIs, error budget remaining and multi-window burn rates.`,
    tags: ['slo'],
    instanceVariable: false,
    panels: [
      ...SLOS.flatMap((s) => [
        stat({
          title: `${s === 'availability' ? 'Availability' : 'Latency'} SLI (${days})`,
          description: `Share of good API requests over ${SLO.windowDays} days for the ${s} SLO, against its objective.`,
          unit: 'percentunit',
          // Red below the objective (the objective itself shows green).
          thresholds: [
            { from: null, color: 'red' },
            { from: SLO[s].objective, color: 'green' },
          ],
          queries: [
            { expr: `1 - ${sliErrorRecord(SLO_WINDOW)}{slo="${s}"}`, legend: 'SLI' },
            { expr: objective(s), legend: 'objective' },
          ],
        }),
        stat({
          title: `${s === 'availability' ? 'Availability' : 'Latency'} error budget remaining`,
          description: `Share of the ${SLO.windowDays}-day ${s} error budget not yet spent (negative: the objective is missed).`,
          unit: 'percentunit',
          thresholds: BUDGET_THRESHOLDS,
          queries: [{ expr: budgetRemaining(s), legend: 'remaining' }],
        }),
      ]),
      ...SLOS.map((s) =>
        timeseries({
          title: `${s === 'availability' ? 'Availability' : 'Latency'} burn rates`,
          description: `Error-budget burn rate of the ${s} SLO per window; pages at ${burnLevels('critical')}, tickets at ${burnLevels('warning')}.`,
          unit: 'suffix:×',
          thresholds: BURN_THRESHOLDS,
          queries: SLI_WINDOWS.map((w) => burn(s, w)),
        }),
      ),
      ...SLOS.map((s) =>
        timeseries({
          title: `${s === 'availability' ? 'Availability' : 'Latency'} error budget burn-down (${days})`,
          description: `Share of the ${s} error budget left over the last ${SLO.windowDays} days, as it was at each point in time: a steady fall is normal, a cliff is an incident, below 0 the objective is missed.`,
          unit: 'percentunit',
          timeFrom: SLO_WINDOW,
          thresholds: BUDGET_THRESHOLDS,
          queries: [{ expr: budgetRemaining(s), legend: 'remaining' }],
        }),
      ),
      timeseries({
        title: 'SLIs now',
        description: `Share of good API requests per rate interval: without 5xx (availability) and within ${SLO.latency.thresholdSeconds} s (latency).`,
        unit: 'percentunit',
        width: 24,
        queries: [
          {
            expr: `sum(rate(${S.httpRequests.name}{${API_ALL},code!~"5.."}[$__rate_interval])) / sum(rate(${S.httpRequests.name}{${API_ALL}}[$__rate_interval]))`,
            legend: 'availability',
          },
          {
            expr: `sum(rate(${S.httpDuration.name}_bucket{${API_ALL},${le}}[$__rate_interval])) / sum(rate(${S.httpDuration.name}_count{${API_ALL}}[$__rate_interval]))`,
            legend: 'latency',
          },
        ],
      }),
    ],
  });
