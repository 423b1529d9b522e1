/**
 * The watch after every deploy (promote and rollback alike): for the target stage's bake time, its own
 * Prometheus is asked every poll for the new version's burn rates; a breach of the stage's maxBurnRate ends
 * the watch at once, and the caller rolls back. The bake time and the poll interval are parameters, so the
 * tests watch for seconds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { identityProblem, instantQuery, queryFailure } from './gate';
import { WatchSummary } from './ledger';
import { BURN_WINDOW_MINUTES, versionQueries } from './queries';
import { GateThresholds } from './stack-files';
import { Stage } from './stages';

export const DEFAULT_POLL_SECONDS = 30;

export interface WatchOptions {
  stage: Stage;
  version: string;
  prometheusUrl: string;
  prometheusStage: string;
  thresholds: GateThresholds;
  pollSeconds: number;
  log: (line: string) => void;
}

export interface WatchResult extends WatchSummary {
  /** False when the watch could not ask the stage's Prometheus: nothing was judged, nothing is rolled back. */
  judged: boolean;
}

const fmt = (x: number | null) => (x === null ? 'n/a' : x.toFixed(2));

export async function watchDeploy(o: WatchOptions): Promise<WatchResult> {
  const { bakeMinutes, maxBurnRate } = o.thresholds;
  const result: WatchResult = {
    passed: false,
    judged: false,
    bakeMinutes,
    polls: 0,
    maxBurnRate: null,
    maxLatencyBurnRate: null,
    requests: null,
  };
  const wrong = await identityProblem(o.prometheusUrl, o.stage, o.prometheusStage).catch((err: unknown) =>
    queryFailure(o.stage, o.prometheusUrl, err),
  );
  if (wrong) {
    result.breach = `cannot watch: ${wrong}`;
    return result;
  }
  const q = versionQueries(o.version, { soakMinutes: BURN_WINDOW_MINUTES, burnMinutes: BURN_WINDOW_MINUTES });
  const started = Date.now();
  const end = started + bakeMinutes * 60_000;
  for (;;) {
    let burn: number | null, latency: number | null, requests: number | null;
    try {
      const ask = (query: string) => instantQuery(o.prometheusUrl, query);
      [burn, latency, requests] = await Promise.all([ask(q.burnRate), ask(q.latencyBurnRate), ask(q.requests)]);
    } catch (err) {
      result.breach = `cannot watch: ${queryFailure(o.stage, o.prometheusUrl, err)}`;
      return result;
    }
    result.polls += 1;
    result.judged = true;
    const max = (a: number | null, b: number | null) => (b === null ? a : Math.max(a ?? b, b));
    result.maxBurnRate = max(result.maxBurnRate, burn);
    result.maxLatencyBurnRate = max(result.maxLatencyBurnRate, latency);
    result.requests = requests;
    const left = Math.max(0, (end - Date.now()) / 1000);
    o.log(
      `watch ${o.stage} ${o.version}: ${left.toFixed(0)} s left; burn rate ${fmt(burn)} availability, ` +
        `${fmt(latency)} latency (≤ ${maxBurnRate}); ${Math.round(requests ?? 0)} API requests in the last ${BURN_WINDOW_MINUTES} min`,
    );
    const breaches = [
      ...(burn !== null && burn > maxBurnRate ? [`availability burn rate ${fmt(burn)}`] : []),
      ...(latency !== null && latency > maxBurnRate ? [`latency burn rate ${fmt(latency)}`] : []),
    ];
    if (breaches.length) {
      result.breach = `${breaches.join(' and ')} of ${o.version} in ${o.stage} above ${maxBurnRate} during the watch`;
      return result;
    }
    if (Date.now() >= end) break;
    await sleep(Math.min(o.pollSeconds * 1000, Math.max(0, end - Date.now())));
  }
  result.passed = true;
  return result;
}
