/**
 * Every PromQL expression the promotion gate runs, in one place, built from the monitoring contract
 * (monitoring/src/contract.ts): the same API traffic the SLO recording rules count, the SLO's objective,
 * `app_build_info` and prom-client's `process_start_time_seconds`.
 */
import { apiRequestSelector, appSelector, SLO } from '../../monitoring/src';

/** The availability objective the gate's burn rate is measured against. */
export const SLO_OBJECTIVE = SLO.availability.objective;

/** Burn rate is measured over the last few minutes: is the error budget being spent too fast now? */
export const BURN_WINDOW_MINUTES = 5;

const requests = `http_requests_total{${apiRequestSelector()}}`;
const failures = `http_requests_total{${apiRequestSelector('code=~"5.."')}}`;

/** Share of API requests answered with a 5xx over the last `minutes`; no result when there were none. */
export function errorRatioQuery(minutes: number): string {
  const w = `${Math.max(1, Math.round(minutes))}m`;
  return `sum(rate(${failures}[${w}])) / sum(rate(${requests}[${w}]))`;
}

/** Burn rate: the error ratio over the burn window divided by the error budget (1 − objective). */
export function burnRateQuery(minutes: number): string {
  return `(${errorRatioQuery(minutes)}) / ${+(1 - SLO_OBJECTIVE).toFixed(6)}`;
}

/**
 * When the oldest process now running `version` started (Unix seconds); no result when no
 * instance reports that version. Counting from process start is what "running" means: a crash or
 * a restart starts the soak again, which errs on the safe side. `and on(job, instance)` keeps only
 * the processes whose own `app_build_info` carries the version.
 */
export function runningSinceQuery(version: string): string {
  return (
    `min(process_start_time_seconds{${appSelector()}} ` + `and on(job, instance) app_build_info{${appSelector(`version="${version}"`)}})`
  );
}
