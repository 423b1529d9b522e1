/**
 * Promotion acts on committed state and leaves committed state: it refuses uncommitted stack files or ledger,
 * holds a per-stage lock while it runs, and commits the stack file and the ledger line together, so every
 * promotion, rollback or retry is one commit.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PromoteError } from './errors';
import { Stage } from './stages';

function git(root: string, args: string[]): string {
  return execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Refuses when `root` is no git repository or any of `files` (relative to root) differs from HEAD. */
export function requireCommitted(root: string, files: string[]): void {
  let status: string;
  try {
    status = git(root, ['status', '--porcelain', '--untracked-files=all', '--', ...files]);
  } catch {
    throw new PromoteError(`${root} is not a git repository: promotions are commits, so they need one`);
  }
  const dirty = status
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(3));
  if (dirty.length) {
    throw new PromoteError(
      `uncommitted changes in ${dirty.join(', ')}: commit or revert them first (a promotion starts from, and is, a commit)`,
    );
  }
}

/** Commits exactly `files` (relative to root) with `message` as `user` ("Name <email>"); returns the short hash. */
export function commitFiles(root: string, files: string[], message: string, user: string): string {
  const m = /^(.+?) <([^>]+)>$/.exec(user);
  const identity = m ? ['-c', `user.name=${m[1]}`, '-c', `user.email=${m[2]}`] : [];
  git(root, ['add', '--', ...files]);
  git(root, [...identity, 'commit', '--quiet', '--no-verify', '-m', message, '--', ...files]);
  return git(root, ['rev-parse', '--short', 'HEAD']).trim();
}

interface LockHolder {
  user: string;
  host: string;
  pid: number;
  command: string;
  started: string;
}

/** Where the lock of `stage` lives: in the repository's git directory, shared by its worktrees, never committed. */
export function lockFile(root: string, stage: Stage): string {
  const common = git(root, ['rev-parse', '--git-common-dir']).trim();
  return path.join(path.resolve(root, common), 'event-stack-locks', `${stage}.lock`);
}

/**
 * Runs `fn` holding the lock of `stage`; a second promotion or rollback of the stage meanwhile is refused
 * with the holder's name, command and start time. A lock left by a killed process is removed by hand
 * (`make unlock ENV=<stage>`, docs/deploy.md).
 */
export async function withStageLock<T>(
  root: string,
  stage: Stage,
  who: { user: string; command: string },
  fn: () => Promise<T>,
): Promise<T> {
  const file = lockFile(root, stage);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const holder: LockHolder = { ...who, host: os.hostname(), pid: process.pid, started: new Date().toISOString() };
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let other: Partial<LockHolder> = {};
    try {
      other = JSON.parse(fs.readFileSync(file, 'utf8')) as LockHolder;
    } catch {
      // Being written this instant: the holder is unknown, the lock is not.
    }
    throw new LockedError(
      `${stage} is locked by ${other.user ?? 'someone'} (${other.command ?? 'unknown command'}, pid ${other.pid ?? '?'} on ${other.host ?? '?'}) ` +
        `since ${other.started ?? '?'}: one promotion at a time. If that process is gone, break the lock: make unlock ENV=${stage}`,
    );
  }
  fs.writeSync(fd, JSON.stringify(holder));
  fs.closeSync(fd);
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Removes a stale lock of `stage`; says whose it was. */
export function breakLock(root: string, stage: Stage): string {
  const file = lockFile(root, stage);
  if (!fs.existsSync(file)) return `${stage} is not locked`;
  const text = fs.readFileSync(file, 'utf8');
  fs.rmSync(file);
  return `removed the lock of ${stage}: ${text}`;
}

/** Another promotion or rollback of the stage is running (exit 3: try again when it is done). */
export class LockedError extends PromoteError {
  override readonly exitCode: number = 3;
}
