/**
 * Load over loopback. Closed loop (maximum throughput): autocannon's programmatic API, each
 * connection sending its next request as soon as the previous one is answered. Open loop (latency
 * at a fixed rate): our own driver, because autocannon 8's `overallRate` sends each second's quota
 * back to back and then pauses (a burst per second, not a steady rate), and its coordinated-omission
 * correction uses an interval of ceil(1 / rate) ms, i.e. always 1 ms. The driver below sends
 * request i at t0 + i / rate whatever happened before, and measures latency from that scheduled
 * time, so a stall counts against every request it delayed.
 */
import http from 'node:http';
import type { Workload } from './workload';

export interface Target {
  url: string;
  headers: Record<string, string>;
}

export interface RunResult {
  durationS: number;
  requests: number;
  ok: number;
  /** Non-2xx answers, connection errors and timeouts. */
  errors: number;
  errorDetail: Record<string, number>;
  reqPerS: number;
  eventsPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time the server process used during the run (user + system). */
  serverCpuMs?: number;
  /** CPU time PostgreSQL (every backend of the cluster), Redis and this load generator used during the run. */
  dbCpuMs?: number;
  redisCpuMs?: number;
  loadCpuMs?: number;
  /** The fixed rate asked for (open loop only). */
  targetRate?: number;
  /** The slowest request and how many took over 50 ms (open loop only). */
  maxMs?: number;
  over50Ms?: number;
}

/** Acknowledgements: request number → events the service said it accepted. */
export type Acks = Map<number, number>;

/** Request numbers keep increasing across the runs of one workload, so every event id is new. */
export interface Sequence {
  next: number;
}

interface AutocannonResult {
  duration: number;
  latency: { p50: number; p99: number };
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = require('autocannon') as Autocannon;

const EVENTS_PATH = '/api/v1/events';

export async function closedLoop(
  target: Target,
  workload: Workload,
  seq: Sequence,
  acks: Acks,
  opts: { connections: number; durationS: number },
): Promise<RunResult> {
  const result = await autocannon({
    url: target.url,
    connections: opts.connections,
    duration: opts.durationS,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: EVENTS_PATH,
        headers: { 'content-type': 'application/json', ...target.headers },
        setupRequest(req: Record<string, unknown>, context: { seq?: number }) {
          context.seq = seq.next++;
          req.body = workload.body(context.seq);
          return req;
        },
        onResponse(status: number, body: string, context: { seq?: number }) {
          if (status === 202 && context.seq !== undefined) acks.set(context.seq, (JSON.parse(body) as { accepted: number }).accepted);
        },
      },
    ],
  });
  const errorDetail: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) if (!code.startsWith('2')) errorDetail[`http ${code}`] = count;
  if (result.errors) errorDetail['connection errors'] = result.errors;
  if (result.timeouts) errorDetail.timeouts = result.timeouts;
  const ok = result['2xx'];
  return {
    durationS: result.duration,
    requests: ok + result.non2xx + result.errors,
    ok,
    errors: result.non2xx + result.errors + result.timeouts,
    errorDetail,
    reqPerS: ok / result.duration,
    eventsPerS: (ok * workload.eventsPerRequest) / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Open loop: `rate` requests per second for `durationS`, latency measured from each scheduled send time. */
export async function openLoop(
  target: Target,
  workload: Workload,
  seq: Sequence,
  acks: Acks,
  opts: { rate: number; durationS: number; maxSockets: number },
): Promise<RunResult> {
  const url = new URL(EVENTS_PATH, target.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets });
  const total = Math.max(1, Math.round(opts.rate * opts.durationS));
  const latencies = new Float64Array(total);
  const errorDetail: Record<string, number> = {};
  let sent = 0;
  let done = 0;
  let ok = 0;
  const countError = (what: string) => (errorDetail[what] = (errorDetail[what] ?? 0) + 1);

  const send = (scheduled: number) =>
    new Promise<void>((resolve) => {
      const n = seq.next++;
      const body = workload.body(n);
      const finish = (i: number) => {
        latencies[i] = performance.now() - scheduled;
        done++;
        resolve();
      };
      const index = sent++;
      const req = http.request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...target.headers },
          timeout: 10000,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            if (res.statusCode === 202) {
              ok++;
              acks.set(n, (JSON.parse(text) as { accepted: number }).accepted);
            } else countError(`http ${res.statusCode}`);
            finish(index);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        countError(err.message === 'timeout' ? 'timeouts' : 'connection errors');
        finish(index);
      });
      req.end(body);
    });

  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  const intervalMs = 1000 / opts.rate;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) pending.push(send(start + sent * intervalMs));
      if (sent >= total) resolve();
      else setTimeout(tick, Math.max(0, Math.min(5, start + sent * intervalMs - now)));
    };
    tick();
  });
  await Promise.all(pending);
  const durationS = (performance.now() - start) / 1000;
  agent.destroy();
  const sorted = latencies.slice(0, done).sort();
  const errors = done - ok;
  return {
    durationS,
    requests: done,
    ok,
    errors,
    errorDetail,
    reqPerS: ok / durationS,
    eventsPerS: (ok * workload.eventsPerRequest) / durationS,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    targetRate: opts.rate,
    maxMs: sorted.length ? sorted[sorted.length - 1]! : 0,
    over50Ms: sorted.filter((ms) => ms > 50).length,
  };
}

/** GET `path` as fast as `connections` allow: request rate and latency of a read. */
export async function readLoop(
  target: Target,
  path: string,
  opts: { connections: number; durationS: number },
): Promise<{ reqPerS: number; p50Ms: number; p99Ms: number; errors: number }> {
  const result = await autocannon({
    url: target.url,
    connections: opts.connections,
    duration: opts.durationS,
    timeout: 10,
    requests: [{ method: 'GET', path, headers: target.headers }],
  });
  return {
    reqPerS: result['2xx'] / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
  };
}

/** `amount` single-event requests, request i sent with token i mod tokens.length (many distinct sensors). */
export async function manySensors(
  url: string,
  tokens: readonly string[],
  workload: Workload,
  seq: Sequence,
  opts: { connections: number; amount: number },
): Promise<{ reqPerS: number; p99Ms: number; ok: number; errors: number; errorDetail: Record<string, number> }> {
  let i = 0;
  const result = await autocannon({
    url,
    connections: opts.connections,
    amount: opts.amount,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: EVENTS_PATH,
        setupRequest(req: Record<string, unknown>) {
          req.headers = { 'content-type': 'application/json', authorization: `Bearer ${tokens[i++ % tokens.length]}` };
          req.body = workload.body(seq.next++);
          return req;
        },
      },
    ],
  });
  const errorDetail: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) if (!code.startsWith('2')) errorDetail[`http ${code}`] = count;
  return {
    reqPerS: result['2xx'] / result.duration,
    p99Ms: result.latency.p99,
    ok: result['2xx'],
    errors: result.non2xx + result.errors + result.timeouts,
    errorDetail,
  };
}
