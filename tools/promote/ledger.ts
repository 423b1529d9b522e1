/**
 * The promotion ledger: one JSON object per line, appended by every promotion, rollback and retried deploy
 * in the same commit as the stack file it changes, so `git log -p` of both tells who moved what where, why
 * it was allowed, and how the deploy ended. Lines written before `action` existed are promotions.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GateResult } from './gate';
import { PromoteError } from './errors';
import { Stage } from './stages';

export const LEDGER_FILE = path.join('deploy', 'ledger.jsonl');

/** promote: a version moved on; rollback: a stage's earlier digest put back; up: `make up` deployed the pinned image again. */
export type LedgerAction = 'promote' | 'rollback' | 'up' | 'unmark-bad';
/**
 * How the deploy ended: deployed (and the watch, if any, passed), failed (`pulumi up` failed: the stack file pins
 * an image the stage may not run), rolled-back (the watch saw a breach and put the previous digest back),
 * not-deployed (DEPLOY=0: only the file changed).
 */
export type DeployOutcome = 'deployed' | 'failed' | 'rolled-back' | 'not-deployed';

export interface LedgerRecord {
  time: string;
  /** Absent in lines written before rollbacks existed: promote. */
  action?: LedgerAction;
  version: string;
  digest: string;
  ref: string;
  /** The stage the digest came from (promote); the stage itself for rollback and up. */
  from: Stage;
  to: Stage;
  /** Git identity of whoever ran it ("Name <email>"), or the CI run's identity. */
  user: string;
  /** The gate of a promotion; rollbacks and retries have none. */
  gate?: GateResult;
  /** Refusals that FORCE=1 overrode; empty for an ordinary promotion. */
  forced: string[];
  /** Whether `pulumi up` was run for the target stack right after (DEPLOY=0: false). */
  deploy: boolean;
  /** Absent in lines written before outcomes were recorded. */
  outcome?: DeployOutcome;
  /** The watch after the deploy: what it saw, or skipped (WATCH=0). */
  watch?: WatchSummary | 'skipped';
  /** Why (rollback: REASON, or the watch's breach; unmark-bad: REASON). */
  reason?: string;
  /** What the stage ran before (rollback). */
  replaced?: { version: string; ref: string };
  /** The version a rollback marked bad: `make promote` refuses it until `make unmark-bad VERSION=…`. */
  markedBad?: string;
}

/** What the watch after a deploy measured (tools/promote/watch.ts). */
export interface WatchSummary {
  passed: boolean;
  bakeMinutes: number;
  polls: number;
  /** The highest burn rates seen, and the requests of the version over the bake. */
  maxBurnRate: number | null;
  maxLatencyBurnRate: number | null;
  requests: number | null;
  breach?: string;
}

export const actionOf = (r: LedgerRecord): LedgerAction => r.action ?? 'promote';

/** Versions marked bad by a rollback and not unmarked since, with the reason. */
export function badVersions(records: LedgerRecord[]): Map<string, string> {
  const bad = new Map<string, string>();
  for (const r of records) {
    if (r.markedBad) bad.set(r.markedBad, `${r.time} by ${r.user}: ${r.reason ?? 'no reason recorded'}`);
    if (actionOf(r) === 'unmark-bad') bad.delete(r.version);
  }
  return bad;
}

/** The ledger's records that changed what `stage` runs (promotions, rollbacks, retries), oldest first. */
export function deploysOf(records: LedgerRecord[], stage: Stage): LedgerRecord[] {
  return records.filter((r) => r.to === stage && actionOf(r) !== 'unmark-bad');
}

export function ledgerPath(root: string): string {
  return path.join(root, LEDGER_FILE);
}

export function readLedger(root: string): LedgerRecord[] {
  const file = ledgerPath(root);
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as LedgerRecord;
      } catch {
        throw new PromoteError(`${LEDGER_FILE}: line ${i + 1} is not JSON`);
      }
    });
}

export function appendLedger(root: string, record: LedgerRecord): void {
  const file = ledgerPath(root);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, `${JSON.stringify(record)}\n`);
}

/** "Name <email>" from git config in the repository, else the login name. */
export function gitUser(root: string): string {
  const get = (key: string) => {
    try {
      return execFileSync('git', ['-C', root, 'config', key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  const name = get('user.name');
  const email = get('user.email');
  if (name && email) return `${name} <${email}>`;
  return name || email || os.userInfo().username;
}
