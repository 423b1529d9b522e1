/**
 * The PromQL the recording rules and the promotion gate share. Each builder takes the windows, the grouping
 * and extra label matchers as arguments, so a caller narrows the same expression (e.g. to one version)
 * instead of writing its own.
 */
import { apiRequestSelector, appSelector, SLO } from './contract';
import { SERVICE_METRICS } from './metrics';

export interface SliOptions {
  /** Labels the sums keep, e.g. ['job'] in the recording rules; none: one service-wide number. */
  by?: readonly string[];
  /** Extra label matchers of the API requests counted, e.g. 'method="POST"'. */
  matchers?: readonly string[];
  /**
   * Only the requests served by processes whose `app_build_info` carries this version (the request series have
   * no version label). The promotion gate, its watch and the canary analysis judge a version, not a mix of the
   * old and the new one. Argo Rollouts passes its template argument here, e.g. '{{args.version}}'.
   */
  version?: string;
}

/** Name of prom-client's default gauge: when the process started (Unix seconds). */
export const PROCESS_START_METRIC = 'process_start_time_seconds';

/** `app_build_info` of the processes running `version`: the join that scopes a series to one version. */
export const versionInfo = (version: string) => `${SERVICE_METRICS.buildInfo.name}{${appSelector(`version="${version}"`)}}`;

/** `expr` (a vector with job and instance labels) kept only for the processes running `version`. */
export const ofVersion = (expr: string, version: string | undefined) =>
  version === undefined ? expr : `(${expr} and on (job, instance) ${versionInfo(version)})`;

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
  const all = sum(o.by, ofVersion(`rate(${apiSeries(SERVICE_METRICS.httpRequests.name, ...m)}[${window}])`, o.version));
  const failed = sum(o.by, ofVersion(`rate(${apiSeries(SERVICE_METRICS.httpRequests.name, ...m, 'code=~"5.."')}[${window}])`, o.version));
  return `(\n    ${failed}\n  or\n    0 * ${all}\n)\n/\n${all}\n`;
}

/** Share of API requests slower than the latency SLO's threshold (a histogram bucket boundary) over `window`. */
export function latencyErrorRatio(window: string, o: SliOptions = {}): string {
  const m = o.matchers ?? [];
  const le = `le="${SLO.latency.thresholdSeconds}"`;
  const fast = sum(o.by, ofVersion(`rate(${apiSeries(`${SERVICE_METRICS.httpDuration.name}_bucket`, ...m, le)}[${window}])`, o.version));
  const all = sum(o.by, ofVersion(`rate(${apiSeries(`${SERVICE_METRICS.httpDuration.name}_count`, ...m)}[${window}])`, o.version));
  return `1 - (\n  ${fast}\n  /\n  ${all}\n)\n`;
}

/** The error ratio of each SLO, by its name. */
export const SLI_ERROR_RATIO = { availability: availabilityErrorRatio, latency: latencyErrorRatio } as const;

/**
 * Burn rate of an SLO over `window`: its error ratio divided by its error budget (1 = spending the budget exactly
 * as fast as the SLO window allows). Empty without requests, like the ratio.
 */
export function burnRate(slo: keyof typeof SLI_ERROR_RATIO, window: string, o: SliOptions = {}): string {
  return `(\n${SLI_ERROR_RATIO[slo](window, o)})\n/ ${errorBudget(SLO[slo].objective)}\n`;
}

/**
 * How many API requests were answered over `window` (of `version` when given): below a minimum, no ratio
 * says anything, and "no errors in 3 requests" must not pass for health. 0, not empty, when there were none
 * while the service was scraped.
 */
export function apiRequestCount(window: string, o: SliOptions = {}): string {
  const m = o.matchers ?? [];
  return sum(o.by, ofVersion(`increase(${apiSeries(SERVICE_METRICS.httpRequests.name, ...m)}[${window}])`, o.version));
}

/**
 * When the newest process running `version` started (Unix seconds); empty when none runs it. The soak of a
 * version counts from there: a replica that crashed or restarted a minute ago has run the version for a
 * minute, however long its siblings have.
 */
export function newestProcessStart(version: string): string {
  return `max(${ofVersion(`${PROCESS_START_METRIC}{${appSelector()}}`, version)})`;
}

/** Error budget of an objective: the share of requests that may be bad (1 − objective), rounded off float noise. */
export const errorBudget = (objective: number) => +(1 - objective).toFixed(6);

/** Name of the recorded SLI of `window`; its series carry the label slo="availability" or slo="latency". */
export const sliErrorRecord = (window: string) => `slo:sli_error:ratio_rate${window}`;
/** Name of the recorded objective of each SLO (labels job and slo). */
export const SLO_OBJECTIVE_RECORD = 'slo:objective:ratio';
