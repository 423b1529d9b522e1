/**
 * The promotion ledger: one JSON object per line, appended by every promotion in the same step as
 * the stack file it changes, so `git log -p` of both tells who moved what where, and why it was allowed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GateResult } from './gate';
import { PromoteError } from './errors';
import { Stage } from './stages';

export const LEDGER_FILE = path.join('deploy', 'ledger.jsonl');

export interface LedgerRecord {
  time: string;
  version: string;
  digest: string;
  ref: string;
  from: Stage;
  to: Stage;
  /** Git identity of whoever ran the promotion ("Name <email>"). */
  user: string;
  gate: GateResult;
  /** Refusals that FORCE=1 overrode; empty for an ordinary promotion. */
  forced: string[];
  /** Whether `pulumi up` was run for the target stack right after (DEPLOY=0: false). */
  deploy: boolean;
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
