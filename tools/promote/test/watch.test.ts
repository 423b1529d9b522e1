/**
 * The watch after a deploy, against two real Prometheus replicas of one stage behind a switch, as an HA pair
 * behind a load balancer can disagree: in one the new version burns its error budget, in the other it is healthy.
 * The test turns the switch between polls (in the watch's own log line), so no timing decides the outcome.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { DEFAULT_THRESHOLDS, GateThresholds } from '../stack-files';
import { watchDeploy, WatchResult } from '../watch';
import { tempDir } from './fixtures';
import { prometheusWithHistory, SyntheticHistory } from './prometheus';

type Prom = Awaited<ReturnType<typeof prometheusWithHistory>>;
let dir: string;
let burning: Prom;
let healthy: Prom;
let replicas: ReplicaSwitch;

const VERSION = '1.1.0';
const STAGE = 'qa';

/** The stage's history with the new version's pod answering `errorShare` of its requests with a 500. */
const history = (errorShare: number): SyntheticHistory => ({
  stage: STAGE,
  rps: 10,
  instances: [
    { instance: 'a', version: '1.0.0', startedMinutesAgo: 180, errorShare: () => 0 },
    { instance: 'b', version: VERSION, startedMinutesAgo: 10, errorShare: () => errorShare },
  ],
});

interface ReplicaSwitch {
  url: string;
  /** Where the next queries go: a replica's URL, or undefined for a load balancer with no replica up (502). */
  route(to: string | undefined): void;
  stop(): Promise<void>;
}

/**
 * A forwarding HTTP server on 127.0.0.1 in front of the replicas. Queries go where `route` says; the identity
 * check (the configuration's external labels, the same in both) always reaches the healthy replica.
 */
async function replicaSwitch(): Promise<ReplicaSwitch> {
  let queries: string | undefined;
  const server = http.createServer((req, res) => {
    const target = req.url?.startsWith('/api/v1/query') ? queries : healthy.url;
    if (!target) return void res.writeHead(502, { 'content-type': 'application/json' }).end('{"status":"error","error":"no replica up"}');
    const upstream = http.request(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    route: (to) => (queries = to),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

beforeAll(async () => {
  dir = tempDir('watch');
  [burning, healthy] = await Promise.all([
    prometheusWithHistory(path.join(dir, 'burning'), history(0.1)),
    prometheusWithHistory(path.join(dir, 'healthy'), history(0)),
  ]);
  replicas = await replicaSwitch();
}, 60000);

afterAll(async () => {
  await Promise.all([burning?.stop(), healthy?.stop(), replicas?.stop()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A bake shorter than one poll: the watch ends as soon as its polls allow. */
const SHORT_BAKE = 0.001;
/** A bake longer than any sequence of polls here: the watch ends by a breach or a silence, never by time. */
const LONG_BAKE = 1;

/**
 * Watches VERSION; `answers[i]` is the replica that answers poll i+1 (undefined: none does), the last one every
 * later poll. Returns the result and the watch's log lines.
 */
async function watchWith(answers: (Prom | undefined)[], thresholds: Partial<GateThresholds>) {
  const log: string[] = [];
  const answerPoll = (n: number) => replicas.route(answers[Math.min(n, answers.length - 1)]?.url);
  answerPoll(0);
  const result: WatchResult = await watchDeploy({
    stage: STAGE,
    version: VERSION,
    prometheusUrl: replicas.url,
    prometheusStage: STAGE,
    thresholds: { ...DEFAULT_THRESHOLDS, ...thresholds },
    pollSeconds: 0.1,
    log: (line) => {
      log.push(line);
      answerPoll(log.length);
    },
  });
  return { result, log };
}

test('when one poll sees a burn-rate breach and the next ones are healthy, then the watch passes: no rollback', async () => {
  const { result, log } = await watchWith([burning, healthy], { bakeMinutes: SHORT_BAKE });
  expect(result).toMatchObject({ passed: true, judged: true, polls: 2 });
  expect(result.breach).toBeUndefined();
  // The breaching poll was seen and is on record.
  expect(result.maxBurnRate).toBeGreaterThan(DEFAULT_THRESHOLDS.maxBurnRate);
  expect(log[0]).toMatch(/burn rate \d+\.\d\d availability.*; breach 1 of 3 polls in a row$/);
});

test("when the breach lasts the stage's breachPolls polls in a row, then the watch ends with it: the caller rolls back", async () => {
  const { result, log } = await watchWith([burning], { bakeMinutes: LONG_BAKE });
  expect(result).toMatchObject({ passed: false, judged: true, polls: 3 });
  expect(result.breach).toMatch(/^availability burn rate \d+\.\d\d of 1\.1\.0 in qa above 1 for 3 polls in a row during the watch$/);
  expect(log.map((l) => l.replace(/^.*; /, ''))).toEqual([
    'breach 1 of 3 polls in a row',
    'breach 2 of 3 polls in a row',
    'breach 3 of 3 polls in a row',
  ]);
});

test('when a breach ends before the bake time does, then the watch goes on until the breach is settled either way', async () => {
  const { result } = await watchWith([burning, burning], { bakeMinutes: SHORT_BAKE });
  expect(result).toMatchObject({ passed: false, judged: true, polls: 3 });
});

test('when breachPolls is 1, then a single breaching poll ends the watch', async () => {
  const { result } = await watchWith([burning], { bakeMinutes: LONG_BAKE, breachPolls: 1 });
  expect(result).toMatchObject({ passed: false, judged: true, polls: 1 });
  expect(result.breach).toMatch(/^availability burn rate \d+\.\d\d of 1\.1\.0 in qa above 1 for 1 poll in a row during the watch$/);
});

test('when a breach is interrupted by a healthy poll, then the count starts again', async () => {
  const { result, log } = await watchWith([burning, burning, healthy, burning], { bakeMinutes: LONG_BAKE });
  expect(result).toMatchObject({ passed: false, judged: true, polls: 6 });
  expect(log.map((l) => /breach (\d) of 3/.exec(l)?.[1] ?? '-')).toEqual(['1', '2', '-', '1', '2', '3']);
});

test('when Prometheus does not answer one poll, then the watch goes on and passes on the healthy answer after it', async () => {
  const { result, log } = await watchWith([undefined, healthy], { bakeMinutes: SHORT_BAKE });
  expect(result).toMatchObject({ passed: true, judged: true, polls: 1 });
  expect(log[0]).toMatch(/^watch qa 1\.1\.0: no answer \(1 of 3 polls in a row\): could not query qa's Prometheus at .*HTTP 502/);
});

test('when Prometheus does not answer breachPolls polls in a row, then the watch cannot judge: no rollback', async () => {
  const { result } = await watchWith([healthy, undefined], { bakeMinutes: LONG_BAKE });
  expect(result).toMatchObject({ passed: false, judged: false, polls: 1 });
  expect(result.breach).toMatch(/^cannot watch: no answer for 3 polls in a row: could not query qa's Prometheus at /);
});
