/**
 * Every PromQL expression the promotion gate and the watch run, in one place, built with the monitoring
 * contract's builders (monitoring/src/promql.ts): the SLO recording rules' own ratios, scoped to the
 * processes of the version being judged, against the SLOs' objectives.
 */
import { apiRequestCount, availabilityErrorRatio, burnRate, newestProcessStart, SLO } from '../../monitoring/src';

/** The availability objective the gate's burn rate is measured against. */
export const SLO_OBJECTIVE = SLO.availability.objective;

/** Burn rate is measured over the last few minutes: is the error budget being spent too fast now? */
export const BURN_WINDOW_MINUTES = 5;

/** A PromQL range in seconds: the tests judge windows shorter than a minute. */
export const window = (minutes: number) => `${Math.max(1, Math.round(minutes * 60))}s`;

/** What the gate and the watch ask a stage's Prometheus about one version. */
export function versionQueries(version: string, o: { soakMinutes: number; burnMinutes: number }) {
  return {
    /** API requests the version's processes answered over the soak window. */
    requests: apiRequestCount(window(o.soakMinutes), { version }),
    /** Share of them answered with a 5xx (0 without any 5xx series). */
    errorRatio: availabilityErrorRatio(window(o.soakMinutes), { version }),
    burnRate: burnRate('availability', window(o.burnMinutes), { version }),
    latencyBurnRate: burnRate('latency', window(o.burnMinutes), { version }),
    /** When the newest process of the version started: a restart starts the soak again. */
    runningSince: newestProcessStart(version),
  };
}
