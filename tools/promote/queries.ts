/**
 * Every PromQL expression the promotion gate runs, in one place, built with the monitoring contract's
 * builders (monitoring/src/promql.ts): the error ratio is the SLO recording rules' own expression, over the
 * same API traffic, against the SLO's objective; `app_build_info` and prom-client's `process_start_time_seconds`
 * tell which version runs since when.
 */
import { appSelector, availabilityErrorRatio, errorBudget, SERVICE_METRICS, SLO } from '../../monitoring/src';

/** The availability objective the gate's burn rate is measured against. */
export const SLO_OBJECTIVE = SLO.availability.objective;

/** Burn rate is measured over the last few minutes: is the error budget being spent too fast now? */
export const BURN_WINDOW_MINUTES = 5;

/**
 * Share of API requests answered with a 5xx over the last `minutes`, service-wide: 0 when none failed (even
 * with no 5xx series at all), no result when there were no requests.
 */
export function errorRatioQuery(minutes: number): string {
  return availabilityErrorRatio(`${Math.max(1, Math.round(minutes))}m`);
}

/** Burn rate: the error ratio over the burn window divided by the error budget (1 − objective). */
export function burnRateQuery(minutes: number): string {
  return `(${errorRatioQuery(minutes)}) / ${errorBudget(SLO_OBJECTIVE)}`;
}

/**
 * When the oldest process now running `version` started (Unix seconds); no result when no
 * instance reports that version. Counting from process start is what "running" means: a crash or
 * a restart starts the soak again, which errs on the safe side. `and on(job, instance)` keeps only
 * the processes whose own `app_build_info` carries the version.
 */
export function runningSinceQuery(version: string): string {
  return (
    `min(process_start_time_seconds{${appSelector()}} ` +
    `and on(job, instance) ${SERVICE_METRICS.buildInfo.name}{${appSelector(`version="${version}"`)}})`
  );
}
