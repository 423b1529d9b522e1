/**
 * The health gate in front of every promotion: before a version leaves a stage, that stage's own
 * Prometheus must show the version has run long enough (soak, from its newest process), served enough
 * API requests to judge, and stayed within both SLOs' error budgets.
 */
import YAML from 'yaml';
import { SERVICE_METRICS, SLO } from '../../monitoring/src';
import { GateThresholds } from './stack-files';
import { BURN_WINDOW_MINUTES, SLO_OBJECTIVE, versionQueries } from './queries';
import { Stage } from './stages';

/** The external label that names the stage a Prometheus belongs to (monitoring/src/render.ts writes it). */
export const STAGE_LABEL = 'stage';

export interface GateResult {
  stage: Stage;
  version: string;
  prometheusUrl: string | null;
  thresholds: GateThresholds;
  passed: boolean;
  /** API requests of the version over the soak window (null: Prometheus unreachable or the version not scraped). */
  requests: number | null;
  /** Error ratio of the version over the soak window (null: no requests, or Prometheus unreachable). */
  errorRatio: number | null;
  /** Availability burn rate of the version over the last BURN_WINDOW_MINUTES (null as above). */
  burnRate: number | null;
  /** Latency burn rate (requests slower than the SLO's threshold) over the same window. */
  latencyBurnRate: number | null;
  /** Minutes since the newest process running the version started (null: not running). */
  runningMinutes: number | null;
  /** Why the gate refused; empty when it passed. */
  reasons: string[];
}

const apiUrl = (baseUrl: string, rel: string) => new URL(rel, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);

export async function getJson<T>(url: URL, timeoutMs = 10000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = (await res.json().catch(() => ({}))) as { status?: string; error?: string; data?: T };
  if (!res.ok || body.status !== 'success' || body.data === undefined) {
    throw new Error(`HTTP ${res.status}: ${body.error ?? 'unexpected answer'} (${url.pathname}${url.search})`);
  }
  return body.data;
}

/** One instant query; null when the result is empty or not a number (e.g. 0/0 without traffic). */
export async function instantQuery(baseUrl: string, query: string): Promise<number | null> {
  const url = apiUrl(baseUrl, 'api/v1/query');
  url.searchParams.set('query', query);
  const data = await getJson<{ result?: { value?: [number, string] }[] }>(url);
  const value = data.result?.[0]?.value?.[1];
  if (value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** The value of the external label `stage` of the Prometheus at `baseUrl` (undefined: it has none). */
export async function prometheusStage(baseUrl: string): Promise<string | undefined> {
  const data = await getJson<{ yaml?: string }>(apiUrl(baseUrl, 'api/v1/status/config'));
  const config = YAML.parse(data.yaml ?? '') as { global?: { external_labels?: Record<string, string> } } | null;
  return config?.global?.external_labels?.[STAGE_LABEL];
}

/** Why the Prometheus at `url` is not `stage`'s own, or undefined when its identity label says it is. */
export async function identityProblem(url: string, stage: Stage, expected: string): Promise<string | undefined> {
  const actual = await prometheusStage(url);
  if (actual === expected) return undefined;
  return (
    `the Prometheus at ${url} is not ${stage}'s: its external label ${STAGE_LABEL} is ` +
    `${actual === undefined ? 'missing' : `"${actual}"`}, expected "${expected}" (is another stage's port-forward, or make local, on that port?)`
  );
}

/** The error of a failed query, with its network cause, for the terminal. */
export function queryFailure(stage: Stage, url: string, err: unknown): string {
  const cause = (err as Error & { cause?: { code?: string } }).cause?.code;
  return `could not query ${stage}'s Prometheus at ${url}: ${(err as Error).message}${cause ? ` (${cause})` : ''}; is its port-forward running (make port-forward ENV=${stage})?`;
}

const percent = (x: number) => `${(x * 100).toFixed(3)} %`;

export interface GateOptions {
  stage: Stage;
  version: string;
  prometheusUrl: string | undefined;
  /** The identity label the stage's Prometheus must report; defaults to the stage's name. */
  prometheusStage?: string;
  thresholds: GateThresholds;
}

/** The windows the gate measures over: the soak window, and the burn window within it. */
function gateWindows(thresholds: GateThresholds) {
  const soakMinutes = Math.max(1, thresholds.soakMinutes);
  return { soakMinutes, burnMinutes: Math.min(BURN_WINDOW_MINUTES, soakMinutes) };
}

export async function evaluateGate(opts: GateOptions): Promise<GateResult> {
  const result: GateResult = {
    stage: opts.stage,
    version: opts.version,
    prometheusUrl: opts.prometheusUrl ?? null,
    thresholds: opts.thresholds,
    passed: false,
    requests: null,
    errorRatio: null,
    burnRate: null,
    latencyBurnRate: null,
    runningMinutes: null,
    reasons: [],
  };
  const unmeasured = await measure(opts, result);
  if (unmeasured) return { ...result, reasons: [unmeasured] };
  result.reasons = [...soakAndTrafficReasons(result), ...burnReasons(result)];
  result.passed = result.reasons.length === 0;
  return result;
}

/** Asks the stage's Prometheus and fills in `result`'s measurements; returns why it could not, if it could not. */
async function measure(opts: GateOptions, result: GateResult): Promise<string | undefined> {
  const { stage, prometheusUrl: url } = opts;
  if (!url) return `no Prometheus for ${stage}: set event-stack:prometheusUrl in Pulumi.${stage}.yaml`;
  const q = versionQueries(opts.version, gateWindows(opts.thresholds));
  let startedAt: number | null;
  try {
    const wrong = await identityProblem(url, stage, opts.prometheusStage ?? stage);
    if (wrong) return wrong;
    const ask = (query: string) => instantQuery(url, query);
    [result.requests, result.errorRatio, result.burnRate, result.latencyBurnRate, startedAt] = await Promise.all([
      ask(q.requests),
      ask(q.errorRatio),
      ask(q.burnRate),
      ask(q.latencyBurnRate),
      ask(q.runningSince),
    ]);
  } catch (err) {
    return queryFailure(stage, url, err);
  }
  if (startedAt !== null) result.runningMinutes = Math.max(0, (Date.now() / 1000 - startedAt) / 60);
  return undefined;
}

/** Has the version run long enough, with enough traffic and few enough errors over the soak window? */
function soakAndTrafficReasons(r: GateResult): string[] {
  const { version, stage, thresholds } = r;
  const { soakMinutes } = gateWindows(thresholds);
  const reasons: string[] = [];
  if (r.runningMinutes === null) {
    reasons.push(`${version} is not running in ${stage} (no instance reports ${SERVICE_METRICS.buildInfo.name}{version="${version}"})`);
  } else if (r.runningMinutes < thresholds.soakMinutes) {
    reasons.push(
      `soak too short: the newest process of ${version} in ${stage} has run for ${r.runningMinutes.toFixed(1)} min, ${thresholds.soakMinutes} min required`,
    );
  }
  // A version that runs nowhere has no traffic either: the first reason says it all.
  if (r.runningMinutes !== null && (r.requests ?? 0) < thresholds.minRequests) {
    reasons.push(
      `not enough traffic to judge: ${Math.round(r.requests ?? 0)} API requests to ${version} in ${stage} over the last ${soakMinutes} min, ${thresholds.minRequests} required`,
    );
  } else if (r.errorRatio !== null && r.errorRatio > thresholds.maxErrorRatio) {
    reasons.push(`error ratio over ${soakMinutes} min is ${percent(r.errorRatio)}, above the limit ${percent(thresholds.maxErrorRatio)}`);
  }
  return reasons;
}

/** Is the version spending either SLO's error budget too fast right now? */
function burnReasons(r: GateResult): string[] {
  const { maxBurnRate } = r.thresholds;
  const { burnMinutes } = gateWindows(r.thresholds);
  const reasons: string[] = [];
  if (r.burnRate !== null && r.burnRate > maxBurnRate) {
    reasons.push(
      `burn rate over the last ${burnMinutes} min is ${r.burnRate.toFixed(2)}× the budget of a ${SLO_OBJECTIVE * 100} % SLO, above the limit ${maxBurnRate}`,
    );
  }
  if (r.latencyBurnRate !== null && r.latencyBurnRate > maxBurnRate) {
    reasons.push(
      `latency burn rate over the last ${burnMinutes} min is ${r.latencyBurnRate.toFixed(2)}× the budget of a ${SLO.latency.objective * 100} % within ${SLO.latency.thresholdSeconds} s SLO, above the limit ${maxBurnRate}`,
    );
  }
  return reasons;
}

/** A few lines for the terminal: what was measured against which limit. */
export function formatGate(g: GateResult): string {
  const fmt = (x: number | null, f: (n: number) => string) => (x === null ? 'n/a' : f(x));
  return [
    `gate ${g.stage} (${g.prometheusUrl ?? 'no Prometheus'}): ${g.passed ? 'PASSED' : 'REFUSED'}`,
    `  running ${g.version}: ${fmt(g.runningMinutes, (m) => `${m.toFixed(1)} min`)} (soak ≥ ${g.thresholds.soakMinutes} min)`,
    `  API requests: ${fmt(g.requests, (n) => String(Math.round(n)))} (≥ ${g.thresholds.minRequests})`,
    `  error ratio: ${fmt(g.errorRatio, percent)} (≤ ${percent(g.thresholds.maxErrorRatio)})`,
    `  burn rate:   ${fmt(g.burnRate, (b) => b.toFixed(2))} availability, ${fmt(g.latencyBurnRate, (b) => b.toFixed(2))} latency (≤ ${g.thresholds.maxBurnRate})`,
    ...g.reasons.map((r) => `  ✗ ${r}`),
  ].join('\n');
}
