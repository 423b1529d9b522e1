/**
 * Load for the fairness tests: a few loops on loopback, each sending one request after another until
 * a deadline. Tests compare counts and statuses of two phases of the same run, never absolute times.
 */
import { postEvents } from '../helpers';

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
