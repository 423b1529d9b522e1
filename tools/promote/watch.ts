/**
 * The watch after every deploy (promote and rollback alike): for the target stage's bake time, its own
 * Prometheus is asked every poll for the new version's burn rates. A breach of the stage's maxBurnRate ends the
 * watch, and the caller rolls back, once `breachPolls` polls in a row show it: one bad poll (a spike, one
 * replica of an HA pair that missed scrapes) is not a verdict. Likewise a Prometheus that does not answer
 * ends the watch unjudged (nothing rolled back) only after `breachPolls` silent polls in a row. A breach or a
 * silence still unsettled when the bake time is over keeps the watch going until it is settled either way.
 * The bake time and the poll interval are parameters, so the tests watch for seconds.
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

/** One poll's answer: the burn rates and requests, or why Prometheus gave none. */
type Poll = { burn: number | null; latency: number | null; requests: number | null } | { failure: string };

/** Polls in a row that breached, and that went unanswered; each run is broken by the other kind of poll. */
interface Streaks {
  breaches: number;
  silences: number;
}

const fmt = (x: number | null) => (x === null ? 'n/a' : x.toFixed(2));
const max = (a: number | null, b: number | null) => (b === null ? a : Math.max(a ?? b, b));
const inARow = (n: number) => `${n} poll${n === 1 ? '' : 's'} in a row`;

export async function watchDeploy(o: WatchOptions): Promise<WatchResult> {
  const result: WatchResult = {
    passed: false,
    judged: false,
    bakeMinutes: o.thresholds.bakeMinutes,
    polls: 0,
    maxBurnRate: null,
    maxLatencyBurnRate: null,
    requests: null,
  };
  const wrong = await identityProblem(o.prometheusUrl, o.stage, o.prometheusStage).catch((err: unknown) =>
    queryFailure(o.stage, o.prometheusUrl, err),
  );
  if (wrong) return { ...result, breach: `cannot watch: ${wrong}` };
  const end = Date.now() + o.thresholds.bakeMinutes * 60_000;
  const streaks: Streaks = { breaches: 0, silences: 0 };
  for (;;) {
    const verdict = judgePoll(o, result, streaks, await poll(o), end);
    if (verdict) return verdict;
    const unsettled = streaks.breaches > 0 || streaks.silences > 0;
    if (Date.now() >= end && !unsettled) return { ...result, passed: true };
    await sleep(unsettled ? o.pollSeconds * 1000 : Math.min(o.pollSeconds * 1000, Math.max(0, end - Date.now())));
  }
}

async function poll(o: WatchOptions): Promise<Poll> {
  const q = versionQueries(o.version, { soakMinutes: BURN_WINDOW_MINUTES, burnMinutes: BURN_WINDOW_MINUTES });
  const ask = (query: string) => instantQuery(o.prometheusUrl, query);
  try {
    const [burn, latency, requests] = await Promise.all([ask(q.burnRate), ask(q.latencyBurnRate), ask(q.requests)]);
    return { burn, latency, requests };
  } catch (err) {
    return { failure: queryFailure(o.stage, o.prometheusUrl, err) };
  }
}

/** Records one poll in `result` and the streaks, logs it, and returns the watch's end when this poll settles it. */
function judgePoll(o: WatchOptions, result: WatchResult, streaks: Streaks, p: Poll, end: number): WatchResult | undefined {
  const { maxBurnRate, breachPolls } = o.thresholds;
  if ('failure' in p) {
    streaks.silences += 1;
    o.log(`watch ${o.stage} ${o.version}: no answer (${streaks.silences} of ${inARow(breachPolls)}): ${p.failure}`);
    if (streaks.silences < breachPolls) return undefined;
    return { ...result, judged: false, breach: `cannot watch: no answer for ${inARow(streaks.silences)}: ${p.failure}` };
  }
  streaks.silences = 0;
  result.polls += 1;
  result.judged = true;
  result.maxBurnRate = max(result.maxBurnRate, p.burn);
  result.maxLatencyBurnRate = max(result.maxLatencyBurnRate, p.latency);
  result.requests = p.requests;
  const breaches = [
    ...(p.burn !== null && p.burn > maxBurnRate ? [`availability burn rate ${fmt(p.burn)}`] : []),
    ...(p.latency !== null && p.latency > maxBurnRate ? [`latency burn rate ${fmt(p.latency)}`] : []),
  ];
  streaks.breaches = breaches.length ? streaks.breaches + 1 : 0;
  const left = Math.max(0, (end - Date.now()) / 1000);
  o.log(
    `watch ${o.stage} ${o.version}: ${left.toFixed(0)} s left; burn rate ${fmt(p.burn)} availability, ` +
      `${fmt(p.latency)} latency (≤ ${maxBurnRate}); ${Math.round(p.requests ?? 0)} API requests in the last ${BURN_WINDOW_MINUTES} min` +
      (streaks.breaches ? `; breach ${streaks.breaches} of ${inARow(breachPolls)}` : ''),
  );
  if (streaks.breaches < breachPolls) return undefined;
  return {
    ...result,
    breach: `${breaches.join(' and ')} of ${o.version} in ${o.stage} above ${maxBurnRate} for ${inARow(streaks.breaches)} during the watch`,
  };
}
