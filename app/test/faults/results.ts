/**
 * Figures of the reliability tests, one JSON file per test under out/faults/ (separate files, so
 * test files running in parallel never write the same file). `make reliability-table` turns them
 * into the figures table of docs/reliability.md.
 */
import fs from 'node:fs';
import path from 'node:path';

export const RESULTS_DIR = path.join(__dirname, '..', '..', '..', 'out', 'faults');

export interface FaultFigures {
  fault: string;
  sent: number;
  acknowledged: number;
  stored: number;
  lost: number;
  duplicates: number;
  /** Longest request overlapping the fault, in ms (connection refused counts, it is an answer too). */
  longestRequestMsDuringFault: number;
  requests: number;
  retriedBatches: number;
  statusesDuringFault: Record<string, number>;
  [extra: string]: unknown;
}

export function writeResult(name: string, figures: object): void {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(
    path.join(RESULTS_DIR, `${name}.json`),
    `${JSON.stringify({ ...figures, recordedAt: new Date().toISOString() }, null, 2)}\n`,
  );
}
