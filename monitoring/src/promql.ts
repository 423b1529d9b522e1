/**
 * The PromQL the recording rules and the promotion gate share. Each builder takes the windows, the grouping
 * and extra label matchers as arguments, so a caller narrows the same expression (e.g. to one version)
 * instead of writing its own.
 */
import { apiRequestSelector, SLO } from './contract';
import { SERVICE_METRICS } from './metrics';

export interface SliOptions {
  /** Labels the sums keep, e.g. ['job'] in the recording rules; none: one service-wide number. */
  by?: readonly string[];
  /** Extra label matchers of the API requests counted, e.g. 'version="1.2.3"'. */
  matchers?: readonly string[];
}

const sum = (by: readonly string[] | undefined, inner: string) => (by?.length ? `sum by (${by.join(', ')}) (${inner})` : `sum(${inner})`);

/** `metric{matchers}`: a selector of the service's API requests. */
export const apiSeries = (metric: string, ...matchers: readonly string[]) => `${metric}{${apiRequestSelector(...matchers)}}`;

/**
 * Share of API requests answered with a 5xx over `window`. Without the `or`, a service that never answered a
 * 5xx has no 5xx series, and the ratio would be empty instead of 0; with no requests at all it stays empty
 * (0 / 0 is no answer, not a good one).
 */
export function availabilityErrorRatio(window: string, o: SliOptions = {}): string {
  const m = o.matchers ?? [];
  const all = sum(o.by, `rate(${apiSeries(SERVICE_METRICS.httpRequests.name, ...m)}[${window}])`);
  const failed = sum(o.by, `rate(${apiSeries(SERVICE_METRICS.httpRequests.name, ...m, 'code=~"5.."')}[${window}])`);
  return `(\n    ${failed}\n  or\n    0 * ${all}\n)\n/\n${all}\n`;
}

/** Share of API requests slower than the latency SLO's threshold (a histogram bucket boundary) over `window`. */
export function latencyErrorRatio(window: string, o: SliOptions = {}): string {
  const m = o.matchers ?? [];
  const le = `le="${SLO.latency.thresholdSeconds}"`;
  const fast = sum(o.by, `rate(${apiSeries(`${SERVICE_METRICS.httpDuration.name}_bucket`, ...m, le)}[${window}])`);
  const all = sum(o.by, `rate(${apiSeries(`${SERVICE_METRICS.httpDuration.name}_count`, ...m)}[${window}])`);
  return `1 - (\n  ${fast}\n  /\n  ${all}\n)\n`;
}

/**
 * API requests answered over `window`: how much traffic an error ratio of the same window stands on. No
 * result when no API request series exists yet (prom-client creates one on a route's first request).
 */
export function apiRequestCount(window: string, o: SliOptions = {}): string {
  return `${sum(o.by, `increase(${apiSeries(SERVICE_METRICS.httpRequests.name, ...(o.matchers ?? []))}[${window}])`)}\n`;
}

/** The error ratio of each SLO, by its name. */
export const SLI_ERROR_RATIO = { availability: availabilityErrorRatio, latency: latencyErrorRatio } as const;

/** Error budget of an objective: the share of requests that may be bad (1 − objective), rounded off float noise. */
export const errorBudget = (objective: number) => +(1 - objective).toFixed(6);

/** Name of the recorded SLI of `window`; its series carry the label slo="availability" or slo="latency". */
export const sliErrorRecord = (window: string) => `slo:sli_error:ratio_rate${window}`;
/** Name of the recorded objective of each SLO (labels job and slo). */
export const SLO_OBJECTIVE_RECORD = 'slo:objective:ratio';
