/** The SLO gate against real Prometheus servers on 127.0.0.1, each holding a different synthetic history. */
import fs from 'node:fs';
import path from 'node:path';
import { evaluateGate, formatGate } from '../gate';
import { DEFAULT_THRESHOLDS, GateThresholds } from '../stack-files';
import { tempDir } from './fixtures';
import { prometheusWithHistory, SyntheticHistory } from './prometheus';

type Prom = Awaited<ReturnType<typeof prometheusWithHistory>>;
type Name =
  'healthy' | 'neverFailed' | 'failing' | 'recentSpike' | 'idle' | 'flakyProbes' | 'trickle' | 'restarted' | 'mixed' | 'slow' | 'local';
const proms: Record<Name, Prom> = {} as never;
let dir: string;

beforeAll(async () => {
  dir = tempDir('gate');
  const steady = [
    { instance: 'a', version: '1.0.0', startedMinutesAgo: 180 },
    { instance: 'b', version: '1.1.0', startedMinutesAgo: 10 },
  ];
  const stage = 'qa';
  const histories: Record<Name, SyntheticHistory> = {
    healthy: { stage, instances: steady, rps: 10, errorShare: () => 0.0001 },
    // Never answered a 5xx: no 5xx series exists at all.
    neverFailed: { stage, instances: steady, rps: 10 },
    failing: { stage, instances: steady, rps: 10, errorShare: () => 0.02 },
    // Fine for hours, then 5 % errors in the last three minutes.
    recentSpike: { stage, instances: steady, rps: 10, errorShare: (ago: number) => (ago < 3 ? 0.05 : 0) },
    // Probes and scrapes never stop in a cluster: an idle stage still answers /readyz.
    idle: { stage, instances: steady, rps: 0, errorShare: () => 0, probeRps: 0.2 },
    // The API is healthy; a third of the readiness probes fail (a dependency blip). Probes are not API traffic.
    flakyProbes: { stage, instances: steady, rps: 10, errorShare: () => 0.0001, probeRps: 1, probeFailureShare: 0.3 },
    // Three API requests in the hour (one every twenty minutes), none failed.
    trickle: { stage, instances: [steady[0]!], rps: 3 / 3600 },
    // Two replicas of 1.0.0 for three hours; one of them restarted two minutes ago.
    restarted: {
      stage,
      rps: 10,
      instances: [
        { instance: 'a', version: '1.0.0', startedMinutesAgo: 180 },
        { instance: 'b', version: '1.0.0', startedMinutesAgo: 180, restartedMinutesAgo: 2 },
      ],
    },
    // The old version fails 5 % of its requests, the new one none: each is judged on its own traffic.
    mixed: {
      stage,
      rps: 10,
      instances: [
        { instance: 'a', version: '1.0.0', startedMinutesAgo: 180, errorShare: () => 0.05 },
        { instance: 'b', version: '1.1.0', startedMinutesAgo: 180, errorShare: () => 0 },
      ],
    },
    // No errors, but 5 % of requests slower than the latency SLO's threshold.
    slow: { stage, instances: steady, rps: 10, slowShare: 0.05 },
    // A laptop's make local: healthy numbers, another stage's identity.
    local: { stage: 'local', instances: steady, rps: 10 },
  };
  const started = await Promise.all(Object.entries(histories).map(([name, h]) => prometheusWithHistory(path.join(dir, name), h)));
  Object.keys(histories).forEach((name, i) => Object.assign(proms, { [name]: started[i] }));
}, 60000);

afterAll(async () => {
  await Promise.all(Object.values(proms).map((p) => p.stop()));
  fs.rmSync(dir, { recursive: true, force: true });
});

const limits: GateThresholds = {
  ...DEFAULT_THRESHOLDS,
  soakMinutes: 60,
  maxErrorRatio: 0.001,
  maxBurnRate: 1,
  minRequests: 100,
  bakeMinutes: 1,
};
const gate = (p: Prom | string | undefined, version = '1.0.0', thresholds = limits) =>
  evaluateGate({ stage: 'qa', version, prometheusUrl: typeof p === 'string' || p === undefined ? p : p.url, thresholds });

test('when the stage is healthy and VERSION has soaked long enough, then the gate passes and reports what it measured', async () => {
  const g = await gate(proms.healthy);
  expect(g.reasons).toEqual([]);
  expect(g.passed).toBe(true);
  expect(g.errorRatio).toBeCloseTo(0.0001, 6);
  expect(g.burnRate).toBeCloseTo(0.1, 3);
  expect(g.runningMinutes).toBeGreaterThan(179);
  expect(g.runningMinutes).toBeLessThan(182);
  expect(formatGate(g)).toMatch(/PASSED[\s\S]*running 1\.0\.0: 18\d\.\d min \(soak ≥ 60 min\)[\s\S]*error ratio: 0\.010 % \(≤ 0\.100 %\)/);
});

test('when the stage never answered a 5xx (no 5xx series at all), then the gate passes with an error ratio and burn rate of 0', async () => {
  const g = await gate(proms.neverFailed);
  expect(g.reasons).toEqual([]);
  expect(g.passed).toBe(true);
  expect(g.errorRatio).toBe(0);
  expect(g.burnRate).toBe(0);
});

test('when VERSION started ten minutes ago, then the gate refuses: soak too short', async () => {
  const g = await gate(proms.healthy, '1.1.0');
  expect(g.passed).toBe(false);
  expect(g.reasons).toEqual([
    expect.stringMatching(/^soak too short: the newest process of 1\.1\.0 in qa has run for (9|10)\.\d min, 60 min required$/),
  ]);
});

test('when the soak requirement is below the running time, then the same version passes', async () => {
  expect((await gate(proms.healthy, '1.1.0', { ...limits, soakMinutes: 5 })).passed).toBe(true);
});

test('when no instance runs VERSION, then the gate refuses: not running', async () => {
  const g = await gate(proms.healthy, '2.0.0');
  expect(g.runningMinutes).toBeNull();
  expect(g.reasons).toEqual(['2.0.0 is not running in qa (no instance reports app_build_info{version="2.0.0"})']);
});

test('when 2 % of requests fail, then the gate refuses on both error ratio and burn rate', async () => {
  const g = await gate(proms.failing);
  expect(g.passed).toBe(false);
  expect(g.errorRatio).toBeCloseTo(0.02, 4);
  expect(g.burnRate).toBeCloseTo(20, 1);
  expect(g.reasons).toEqual([
    'error ratio over 60 min is 2.000 %, above the limit 0.100 %',
    'burn rate over the last 5 min is 20.00× the budget of a 99.9 % SLO, above the limit 1',
  ]);
});

test('when errors started three minutes ago, then the hour looks fine but the burn rate refuses', async () => {
  const g = await gate(proms.recentSpike, '1.0.0', { ...limits, maxErrorRatio: 0.01 });
  expect(g.errorRatio).toBeLessThan(0.01);
  expect(g.burnRate).toBeGreaterThan(10);
  expect(g.reasons).toEqual([expect.stringMatching(/^burn rate over the last 5 min is \d+\.\d\d× the budget/)]);
});

test('when the stage served no requests in the window, then the gate refuses: not enough traffic to judge', async () => {
  const g = await gate(proms.idle);
  expect(g.errorRatio).toBeNull();
  expect(g.reasons).toEqual(['not enough traffic to judge: 0 API requests to 1.0.0 in qa over the last 60 min, 100 required']);
});

test('when the version served 3 requests in the window, none failed, then the gate refuses: not enough traffic to judge', async () => {
  const g = await gate(proms.trickle);
  expect(g.errorRatio).toBe(0);
  expect(g.requests).toBeGreaterThan(2);
  expect(g.requests).toBeLessThan(4);
  expect(g.reasons).toEqual(['not enough traffic to judge: 3 API requests to 1.0.0 in qa over the last 60 min, 100 required']);
});

test('when one replica of the version restarted two minutes ago, then the soak starts again and the gate refuses', async () => {
  const g = await gate(proms.restarted);
  expect(g.runningMinutes).toBeLessThan(3);
  expect(g.reasons).toEqual([
    expect.stringMatching(/^soak too short: the newest process of 1\.0\.0 in qa has run for [12]\.\d min, 60 min required$/),
  ]);
});

test('when the old version fails and the new one does not, then each version is judged on its own requests', async () => {
  const [old, fresh] = await Promise.all([gate(proms.mixed, '1.0.0'), gate(proms.mixed, '1.1.0')]);
  expect(old.errorRatio).toBeCloseTo(0.05, 4);
  expect(old.passed).toBe(false);
  expect(fresh.errorRatio).toBe(0);
  expect(fresh.reasons).toEqual([]);
});

test('when 5 % of requests are slower than the latency threshold, then the gate refuses on the latency burn rate', async () => {
  const g = await gate(proms.slow);
  expect(g.latencyBurnRate).toBeCloseTo(5, 3);
  expect(g.reasons).toEqual([
    expect.stringMatching(/^latency burn rate over the last 5 min is 5\.00× the budget of a 99 % within 0\.5 s SLO/),
  ]);
});

test("when the Prometheus at the stage's URL reports another stage (make local's), then the gate refuses it without judging", async () => {
  const g = await gate(proms.local);
  expect(g.passed).toBe(false);
  expect(g.requests).toBeNull();
  expect(g.reasons).toEqual([
    expect.stringMatching(/^the Prometheus at http:\S+ is not qa's: its external label stage is "local", expected "qa"/),
  ]);
});

test('when only readiness probes fail, then the gate judges the API traffic alone and passes', async () => {
  const g = await gate(proms.flakyProbes);
  expect(g.reasons).toEqual([]);
  expect(g.errorRatio).toBeCloseTo(0.0001, 6);
  expect(g.burnRate).toBeCloseTo(0.1, 3);
});

test('when Prometheus cannot be reached, then the gate refuses and names the URL', async () => {
  const g = await gate('http://127.0.0.1:1');
  expect(g.reasons).toEqual([
    expect.stringMatching(/^could not query qa's Prometheus at http:\/\/127\.0\.0\.1:1: .*make port-forward ENV=qa/),
  ]);
});

test('when the stage has no prometheusUrl, then the gate refuses and says which key to set', async () => {
  expect((await gate(undefined)).reasons).toEqual(['no Prometheus for qa: set event-stack:prometheusUrl in Pulumi.qa.yaml']);
});
