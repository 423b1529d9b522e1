/**
 * The canary analysis of staging and prod, proven on a real Prometheus: the AnalysisTemplate the program renders
 * is read back, Argo's argument substituted with a canary's pod-template-hash, and each query run as an instant
 * query (as Argo's Prometheus provider runs it) against synthetic history shaped like the service's own series:
 * pods named as a Rollout names them, prom-client's request counter (no 5xx series until the first 5xx) and
 * latency histogram. The conditions are then judged the way Argo judges them.
 */
import { APP_JOB, SERVICE_METRICS, SLO } from '../../monitoring/src';
import { startBackfilledPrometheus } from '../../tools/stack/backfilled-prometheus';
import type { Running } from '../../tools/stack/process';
import { CANARY_HASH_PLACEHOLDER, canaryPodsMatcher } from '../components/canary';
import type { KubernetesObject, OfflineRun } from '../offline';
import { runIsolated as run } from './offline-run';

process.setMaxListeners(64);

/** How one pod of the synthetic history behaves: requests per second, share of 500s, share slower than the SLO's threshold. */
interface PodBehaviour {
  rps: number;
  errorShare?: number;
  slowShare?: number;
}

const STABLE = '6d4b8c9f7';
/** Canaries of different Rollout revisions, each behaving one way, all beside stable pods that burn. */
const CANARIES = {
  healthy: { hash: '7c9f8d6b5', pods: [{ rps: 5 }] },
  burning: { hash: '5b8d7f6c9', pods: [{ rps: 5, errorShare: 0.05 }] },
  slow: { hash: '84f6c7d9b', pods: [{ rps: 5, slowShare: 0.2 }] },
  // 0.2 requests per second: 60 in five minutes, below the minimum the ratios need.
  quiet: { hash: '9d7c6b5f8', pods: [{ rps: 0.2 }] },
} satisfies Record<string, { hash: string; pods: PodBehaviour[] }>;
/** A canary whose pods Prometheus has not scraped yet: no series at all. */
const UNSCRAPED_HASH = '6f5b9c8d7';
/** The stable pods fail a fifth of their requests, slowly: the canary's judgement must not see them. */
const STABLE_PODS: PodBehaviour[] = [
  { rps: 10, errorShare: 0.2, slowShare: 0.5 },
  { rps: 10, errorShare: 0.2, slowShare: 0.5 },
];

const STEP_SECONDS = 15;
const HISTORY_MINUTES = 30;
const BUCKETS = [0.05, 0.1, 0.25, SLO.latency.thresholdSeconds, 1, 2.5];
const SUFFIXES = ['bcdfg', 'hjklm', 'npqrs'];

/** OpenMetrics text of every pod's counters and histogram, one sample every 15 s, ending just before now. */
function history(nowSeconds: number): string {
  const pods = [
    ...STABLE_PODS.map((b, i) => ({ name: `event-service-${STABLE}-${SUFFIXES[i]}`, b })),
    ...Object.values(CANARIES).flatMap((c) => c.pods.map((b: PodBehaviour, i) => ({ name: `event-service-${c.hash}-${SUFFIXES[i]}`, b }))),
  ];
  const { httpRequests, httpDuration } = SERVICE_METRICS;
  const lines: string[] = [];
  const end = Math.floor(nowSeconds) - 2;
  for (const { name, b } of pods) {
    const api = `job="${APP_JOB}",instance="${name}",method="POST",route="/api/v1/events"`;
    const probe = `job="${APP_JOB}",instance="${name}",method="GET",route="/readyz",code="200"`;
    for (let n = 0, t = end - HISTORY_MINUTES * 60; t <= end; n++, t += STEP_SECONDS) {
      const requests = b.rps * STEP_SECONDS * n;
      const failed = requests * (b.errorShare ?? 0);
      const slow = requests * (b.slowShare ?? 0);
      lines.push(`${httpRequests.name}{${api},code="202"} ${requests - failed} ${t}`);
      // prom-client creates a label set on its first use: a pod that never answered a 500 has no such series.
      if (b.errorShare) lines.push(`${httpRequests.name}{${api},code="500"} ${failed} ${t}`);
      lines.push(`${httpRequests.name}{${probe}} ${n * 3} ${t}`);
      // Fast requests take 40 ms, slow ones 2 s: one histogram for all codes of the route, for brevity.
      const histogram = `${api},code="202"`;
      for (const le of BUCKETS)
        lines.push(`${httpDuration.name}_bucket{${histogram},le="${le}"} ${le >= 2 ? requests : requests - slow} ${t}`);
      lines.push(`${httpDuration.name}_bucket{${histogram},le="+Inf"} ${requests} ${t}`);
      lines.push(`${httpDuration.name}_count{${histogram}} ${requests} ${t}`);
      lines.push(`${httpDuration.name}_sum{${histogram}} ${(requests - slow) * 0.04 + slow * 2} ${t}`);
    }
  }
  return `${lines.join('\n')}\n# EOF\n`;
}

let prometheus: Running & { url: string };
const rendered = new Map<string, OfflineRun>();

beforeAll(async () => {
  for (const stack of ['staging', 'prod']) rendered.set(stack, await run(stack));
  prometheus = await startBackfilledPrometheus('canary-analysis', history(Date.now() / 1000));
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
});

interface Metric {
  name: string;
  successCondition: string;
  failureCondition: string;
  provider: { prometheus: { address: string; query: string } };
}
const templateOf = (stack: string) =>
  rendered.get(stack)!.kubernetesObjects.find((o) => o.kind === 'AnalysisTemplate') as KubernetesObject & {
    spec: { args: { name: string }[]; metrics: Metric[] };
  };

/** An instant query now, as Argo's Prometheus provider runs it: the sample values of the vector. */
async function sampleValues(query: string): Promise<number[]> {
  const url = new URL('/api/v1/query', prometheus.url);
  url.searchParams.set('query', query);
  const body = (await (await fetch(url)).json()) as {
    status: string;
    error?: string;
    data: { resultType: string; result: { value: [number, string] }[] };
  };
  if (body.status !== 'success') throw new Error(`${body.error}: ${query}`);
  expect(body.data.resultType).toBe('vector');
  return body.data.result.map((r) => Number(r.value[1]));
}

/**
 * The conditions use only `result`, `len`, indexing, numbers, comparisons and `&&`, where Argo's expr language
 * and JavaScript agree (NaN compares false in both), so JavaScript evaluates them as the controller would.
 */
const CONDITION = /^(false|len\(result\) > 0 && result\[0\] (<=|>=|>) \d+(\.\d+)?)$/;
function judge(metric: Metric, result: number[]): 'Successful' | 'Failed' | 'Inconclusive' {
  const holds = (condition: string) => {
    expect(condition).toMatch(CONDITION);
    return new Function('result', 'len', `return ${condition};`)(result, (a: unknown[]) => a.length) as boolean;
  };
  // Argo's rule when both conditions are set: failure wins, then success, else inconclusive.
  if (holds(metric.failureCondition)) return 'Failed';
  return holds(metric.successCondition) ? 'Successful' : 'Inconclusive';
}

async function analyse(stack: string, hash: string): Promise<Record<string, { phase: string; result: number[] }>> {
  const metrics = templateOf(stack).spec.metrics;
  const out: Record<string, { phase: string; result: number[] }> = {};
  for (const m of metrics) {
    const result = await sampleValues(m.provider.prometheus.query.replaceAll(CANARY_HASH_PLACEHOLDER, hash));
    out[m.name] = { phase: judge(m, result), result };
  }
  return out;
}
const phases = (a: Record<string, { phase: string }>) => Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v.phase]));

describe.each(['staging', 'prod'])('the canary analysis of %s', (stack) => {
  test('when rendered, then it judges traffic, availability and latency, and its only argument is the canary pod-template-hash', () => {
    const t = templateOf(stack);
    expect(t.spec.args).toEqual([{ name: 'canary-pod-template-hash' }]);
    expect(t.spec.metrics.map((m) => m.name)).toEqual(['api-requests', 'availability-error-ratio', 'latency-error-ratio']);
    for (const m of t.spec.metrics) expect(m.provider.prometheus.query).toContain(CANARY_HASH_PLACEHOLDER);
  });

  test('when the canary is healthy (never a 5xx series) beside burning stable pods, then every query returns data and every metric passes', async () => {
    const a = await analyse(stack, CANARIES.healthy.hash);
    for (const { result } of Object.values(a)) {
      expect(result).toHaveLength(1);
      expect(Number.isFinite(result[0])).toBe(true);
    }
    expect(a['api-requests']!.result[0]).toBeGreaterThan(1000);
    expect(a['availability-error-ratio']!.result[0]).toBe(0);
    expect(a['latency-error-ratio']!.result[0]).toBeCloseTo(0, 9);
    expect(phases(a)).toEqual({
      'api-requests': 'Successful',
      'availability-error-ratio': 'Successful',
      'latency-error-ratio': 'Successful',
    });
  });

  test('when the canary answers 5 % of its API requests with 500, then the availability metric fails', async () => {
    const a = await analyse(stack, CANARIES.burning.hash);
    expect(a['availability-error-ratio']!.result[0]).toBeCloseTo(0.05, 6);
    expect(phases(a)).toEqual({ 'api-requests': 'Successful', 'availability-error-ratio': 'Failed', 'latency-error-ratio': 'Successful' });
  });

  test('when a fifth of the canary requests are slower than the latency threshold, then the latency metric fails', async () => {
    const a = await analyse(stack, CANARIES.slow.hash);
    expect(a['latency-error-ratio']!.result[0]).toBeCloseTo(0.2, 6);
    expect(phases(a)).toEqual({ 'api-requests': 'Successful', 'availability-error-ratio': 'Successful', 'latency-error-ratio': 'Failed' });
  });

  test('when the canary served fewer requests than the minimum, then the traffic metric is inconclusive (the rollout pauses), not a pass', async () => {
    const a = await analyse(stack, CANARIES.quiet.hash);
    expect(a['api-requests']!.result[0]).toBeCloseTo(60, 0);
    expect(a['api-requests']!.phase).toBe('Inconclusive');
  });

  test('when no series of the canary pods exists yet, then every metric is inconclusive: neither a pass nor a rollback', async () => {
    expect(phases(await analyse(stack, UNSCRAPED_HASH))).toEqual({
      'api-requests': 'Inconclusive',
      'availability-error-ratio': 'Inconclusive',
      'latency-error-ratio': 'Inconclusive',
    });
  });
});

test("when a canary's pods are matched, then the pods of its Rollout revision are, and those of another revision or workload are not", () => {
  const matcher = new RegExp(`^${/instance=~"(.*)"/.exec(canaryPodsMatcher('event-service', CANARIES.healthy.hash))![1]}$`);
  expect(matcher.test(`event-service-${CANARIES.healthy.hash}-bcdfg`)).toBe(true);
  expect(matcher.test(`event-service-${STABLE}-bcdfg`)).toBe(false);
  expect(matcher.test(`event-service-maintenance-${CANARIES.healthy.hash}-bcdfg`)).toBe(false);
});
