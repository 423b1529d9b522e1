/**
 * The health gate in front of every promotion: before a version leaves a stage, that stage's
 * Prometheus must show it has run long enough (soak) and within the error budget.
 */
import { SERVICE_METRICS } from '../../monitoring/src';
import { GateThresholds } from './stack-files';
import { BURN_WINDOW_MINUTES, burnRateQuery, errorRatioQuery, runningSinceQuery, SLO_OBJECTIVE } from './queries';
import { Stage } from './stages';

export interface GateResult {
  stage: Stage;
  version: string;
  prometheusUrl: string | null;
  thresholds: GateThresholds;
  passed: boolean;
  /** Error ratio over the soak window (null: no requests, or Prometheus unreachable). */
  errorRatio: number | null;
  /** Burn rate over the last BURN_WINDOW_MINUTES (null as above). */
  burnRate: number | null;
  /** Minutes since the oldest process running the version started (null: not running). */
  runningMinutes: number | null;
  /** Why the gate refused; empty when it passed. */
  reasons: string[];
}

/** One instant query; null when the result is empty or not a number (e.g. 0/0 without traffic). */
async function instantQuery(baseUrl: string, query: string): Promise<number | null> {
  const url = new URL('api/v1/query', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  url.searchParams.set('query', query);
  const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
  const body = (await res.json().catch(() => ({}))) as {
    status?: string;
    error?: string;
    data?: { resultType?: string; result?: { value?: [number, string] }[] };
  };
  if (!res.ok || body.status !== 'success') throw new Error(`HTTP ${res.status}: ${body.error ?? 'unexpected answer'} (query: ${query})`);
  const value = body.data?.result?.[0]?.value?.[1];
  if (value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

const percent = (x: number) => `${(x * 100).toFixed(3)} %`;

export async function evaluateGate(opts: {
  stage: Stage;
  version: string;
  prometheusUrl: string | undefined;
  thresholds: GateThresholds;
}): Promise<GateResult> {
  const { stage, version, thresholds } = opts;
  const result: GateResult = {
    stage,
    version,
    prometheusUrl: opts.prometheusUrl ?? null,
    thresholds,
    passed: false,
    errorRatio: null,
    burnRate: null,
    runningMinutes: null,
    reasons: [],
  };
  if (!opts.prometheusUrl) {
    result.reasons.push(`no Prometheus for ${stage}: set event-stack:prometheusUrl in Pulumi.${stage}.yaml`);
    return result;
  }
  const burnMinutes = Math.min(BURN_WINDOW_MINUTES, Math.max(1, thresholds.soakMinutes));
  let startedAt: number | null;
  try {
    [result.errorRatio, result.burnRate, startedAt] = await Promise.all([
      instantQuery(opts.prometheusUrl, errorRatioQuery(thresholds.soakMinutes)),
      instantQuery(opts.prometheusUrl, burnRateQuery(burnMinutes)),
      instantQuery(opts.prometheusUrl, runningSinceQuery(version)),
    ]);
  } catch (err) {
    const cause = (err as Error & { cause?: { code?: string } }).cause?.code;
    const why = `${(err as Error).message}${cause ? ` (${cause})` : ''}`;
    result.reasons.push(`could not query ${stage}'s Prometheus at ${opts.prometheusUrl}: ${why}; is its port-forward running?`);
    return result;
  }
  if (startedAt !== null) result.runningMinutes = Math.max(0, (Date.now() / 1000 - startedAt) / 60);

  if (result.runningMinutes === null) {
    result.reasons.push(
      `${version} is not running in ${stage} (no instance reports ${SERVICE_METRICS.buildInfo.name}{version="${version}"})`,
    );
  } else if (result.runningMinutes < thresholds.soakMinutes) {
    result.reasons.push(
      `soak too short: ${version} has run in ${stage} for ${result.runningMinutes.toFixed(1)} min, ${thresholds.soakMinutes} min required`,
    );
  }
  if (result.errorRatio === null) {
    result.reasons.push(`no requests in ${stage} over the last ${thresholds.soakMinutes} min: health cannot be judged`);
  } else if (result.errorRatio > thresholds.maxErrorRatio) {
    result.reasons.push(
      `error ratio over ${thresholds.soakMinutes} min is ${percent(result.errorRatio)}, above the limit ${percent(thresholds.maxErrorRatio)}`,
    );
  }
  if (result.burnRate !== null && result.burnRate > thresholds.maxBurnRate) {
    result.reasons.push(
      `burn rate over the last ${burnMinutes} min is ${result.burnRate.toFixed(2)}× the budget of a ${SLO_OBJECTIVE * 100} % SLO, above the limit ${thresholds.maxBurnRate}`,
    );
  }
  result.passed = result.reasons.length === 0;
  return result;
}

/** A few lines for the terminal: what was measured against which limit. */
export function formatGate(g: GateResult): string {
  const fmt = (x: number | null, f: (n: number) => string) => (x === null ? 'n/a' : f(x));
  return [
    `gate ${g.stage} (${g.prometheusUrl ?? 'no Prometheus'}): ${g.passed ? 'PASSED' : 'REFUSED'}`,
    `  running ${g.version}: ${fmt(g.runningMinutes, (m) => `${m.toFixed(1)} min`)} (soak ≥ ${g.thresholds.soakMinutes} min)`,
    `  error ratio: ${fmt(g.errorRatio, percent)} (≤ ${percent(g.thresholds.maxErrorRatio)})`,
    `  burn rate:   ${fmt(g.burnRate, (b) => b.toFixed(2))} (≤ ${g.thresholds.maxBurnRate})`,
    ...g.reasons.map((r) => `  ✗ ${r}`),
  ].join('\n');
}
