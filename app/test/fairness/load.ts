/**
 * Load for the fairness tests: a few loops on loopback, each sending one request after another until
 * a deadline. Tests compare counts, statuses and medians of two phases of the same run; the one absolute time,
 * LEGIT_P50_MAX_MS, is scaled by how much slower than a quiet machine the same run is without the abuse.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { sleep } from '../../../tools/stack/process';
import { postEvents } from '../helpers';
import type { AttackPlan } from './attacker';

export interface Outcome {
  status: number;
  ms: number;
}

/** Runs `workers` loops of `send` until `forMs` has passed; every outcome, in completion order. */
export async function sendFor(forMs: number, workers: number, send: () => Promise<number>): Promise<Outcome[]> {
  const deadline = Date.now() + forMs;
  const outcomes: Outcome[] = [];
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < deadline) {
        const start = performance.now();
        const status = await send().catch(() => 0);
        outcomes.push({ status, ms: performance.now() - start });
      }
    }),
  );
  return outcomes;
}

/** A legit sensor's request: one small event. */
export function oneEvent(url: string, token: string): () => Promise<number> {
  return async () => (await postEvents(url, token, { type: 'legit', payload: { v: 1 } })).status;
}

/** Statuses with how often each came, e.g. { 202: 310 }. */
export function statusCounts(outcomes: Outcome[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const o of outcomes) counts[o.status] = (counts[o.status] ?? 0) + 1;
  return counts;
}

export function median(outcomes: Outcome[]): number {
  const sorted = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

export interface Attack {
  /** The legit sensor's requests started while no attack ran. */
  baseline: Outcome[];
  /** Its requests started while the attack ran. */
  legit: Outcome[];
  /** The attacker's answers by status (0: no HTTP answer). */
  attack: Record<string, number>;
}

/**
 * A legit loop that runs throughout, and an attacker process that attacks in every other window of
 * `windowMs` (`rounds` times): the legit sensor's requests under attack are compared with its requests
 * between the attacks of the same run, so a machine that slows down for a while slows both alike.
 */
export async function underAttack(opts: {
  legit: () => Promise<number>;
  attack: AttackPlan;
  rounds?: number;
  windowMs?: number;
}): Promise<Attack> {
  const rounds = opts.rounds ?? 4;
  const windowMs = opts.windowMs ?? 500;
  const attacker = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'attacker.ts'), JSON.stringify(opts.attack)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: attacker.stdout! });
  const next = () => new Promise<string>((resolve) => lines.once('line', resolve));
  try {
    if ((await next()) !== 'ready') throw new Error('the attacker did not start');
    const t0 = Date.now() + 100;
    const windows = Array.from({ length: rounds }, (_, k) => [t0 + (2 * k + 1) * windowMs, t0 + (2 * k + 2) * windowMs] as const);
    const result = next();
    attacker.stdin!.write(`${JSON.stringify(windows)}\n`);
    const baseline: Outcome[] = [];
    const legit: Outcome[] = [];
    await sleep(t0 - Date.now());
    while (Date.now() < t0 + 2 * rounds * windowMs) {
      const startedAt = Date.now();
      const start = performance.now();
      const status = await opts.legit().catch(() => 0);
      const attacked = windows.some(([from, to]) => startedAt >= from && startedAt < to);
      (attacked ? legit : baseline).push({ status, ms: performance.now() - start });
    }
    return { baseline, legit, attack: JSON.parse(await result) as Record<string, number> };
  } finally {
    lines.close();
    attacker.kill();
  }
}

/**
 * The fairness claim every abuse is held to: the legit sensor is served, without a 5xx and with its median latency
 * bounded (`expectLegitP50`), the attacker refused with a 4xx (or, for `attackerServed`, served within its share:
 * those statuses too).
 */
export function expectFair(run: Attack, legitStatus = 202, attackerServed: number[] = []): void {
  expect(statusCounts(run.legit)).toEqual({ [legitStatus]: run.legit.length });
  const attackStatuses = Object.keys(run.attack).map(Number);
  expect(attackStatuses.length).toBeGreaterThan(0);
  expect(attackStatuses.filter((s) => (s < 400 || s >= 500) && !attackerServed.includes(s))).toEqual([]);
  // Shares of the same run, never absolute times. The attack may cost the legit sensor at most two thirds of its
  // requests: on a shared 2-core machine the attacker's own process takes CPU too; the defects this guards against
  // cost it 80–99 %.
  expect(run.legit.length / run.baseline.length).toBeGreaterThanOrEqual(1 / 3);
  expectLegitP50(run.legit, run.baseline);
}

/** Issue 26's bound on the legit sensor's median while an abuse runs, on a machine where its median is QUIET_P50_MS. */
export const LEGIT_P50_MAX_MS = 50;
/** The legit sensor's median on a quiet machine (3.6–5.7 ms in issue 26): the unit the bound is counted in. */
const QUIET_P50_MS = 5.7;

/**
 * The legit sensor's median under abuse stays below LEGIT_P50_MAX_MS where the machine is as quiet as issue 26's
 * (its median without the abuse, in the same run, at most QUIET_P50_MS), and below the same multiple (8.8×) of that
 * median on a slower or busier machine: on 2 cores shared by other work (load 10–16) it was 10–85 ms with no abuse at
 * all, and abuse took it to at most 5× that. The defects this guards against took it 90–1000× higher.
 */
export function expectLegitP50(underAbuse: Outcome[], withoutAbuse: Outcome[]): void {
  const slowdown = Math.max(1, median(withoutAbuse) / QUIET_P50_MS);
  expect(median(underAbuse)).toBeLessThan(LEGIT_P50_MAX_MS * slowdown);
}
