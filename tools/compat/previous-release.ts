/**
 * Which revision is "the previous release" for `make compat-test`, decided from git alone so that it works on
 * a fresh clone of main (CI): COMPAT_BASE when given; else the newest `v*` tag reachable from HEAD (one that
 * does not tag HEAD itself: that is this release); else, said loudly, a stand-in: the commit before the newest
 * migration came in, i.e. the last app that ran without it. A shallow clone is refused rather than guessed at.
 */
import { execFileSync } from 'node:child_process';

export const MIGRATIONS_PATH = 'app/migrations';

export class CompatError extends Error {}

/** The clone has no history to find the previous release in. */
export class ShallowClone extends CompatError {}

/** A shallow clone (CI checkouts often are) fetches its whole history and the tags from its origin, when it can. */
export function deepenShallowClone(repo: string, log: (line: string) => void): void {
  if (git(repo, ['rev-parse', '--is-shallow-repository']) !== 'true') return;
  log('shallow clone: fetching its history and tags from its origin (git fetch --unshallow --tags)');
  try {
    execFileSync('git', ['fetch', '--quiet', '--unshallow', '--tags'], {
      cwd: repo,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 120_000,
    });
  } catch (err) {
    log(`could not deepen it: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`);
  }
}

export interface PreviousRelease {
  /** The full commit id. */
  sha: string;
  /** How it was chosen, for the log. */
  how: string;
  /** True when no release tag exists and a stand-in was taken: the caller prints `how` as a warning. */
  standIn: boolean;
}

export function git(repo: string, args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer | string }).stderr ?? '').trim();
    throw new CompatError(`git ${args.join(' ')} failed in ${repo}: ${stderr || (err as Error).message}`);
  }
}

function commitOf(repo: string, rev: string): string {
  return git(repo, ['rev-parse', '--verify', `${rev}^{commit}`]);
}

/** The newest `v<semver>` tag HEAD contains, leaving out the tags on HEAD itself. */
function newestReleaseTag(repo: string): string | undefined {
  const onHead = new Set(git(repo, ['tag', '--points-at', 'HEAD']).split('\n').filter(Boolean));
  return git(repo, ['tag', '--merged', 'HEAD', '--list', 'v[0-9]*', '--sort=-v:refname'])
    .split('\n')
    .filter(Boolean)
    .find((tag) => !onHead.has(tag));
}

/** The parent of the commit that added HEAD's newest migration; HEAD when that migration is not committed yet. */
function beforeNewestMigration(repo: string, migrations: string[]): { sha: string; how: string } {
  const newest = [...migrations].sort().at(-1);
  if (!newest) throw new CompatError(`no migration in ${MIGRATIONS_PATH}: nothing to check compatibility against`);
  const added = git(repo, ['log', '--diff-filter=A', '--format=%H', '-1', 'HEAD', '--', `${MIGRATIONS_PATH}/${newest}`]);
  if (!added) return { sha: commitOf(repo, 'HEAD'), how: `HEAD, the last commit without ${newest} (not committed yet)` };
  const parent = git(repo, ['rev-list', '--parents', '-n', '1', added]).split(' ')[1];
  if (!parent) throw new CompatError(`${newest} came in with the first commit (${added.slice(0, 12)}): there is no app before it`);
  return { sha: parent, how: `the commit before ${newest} came in with ${added.slice(0, 12)}` };
}

/**
 * @param migrations the migration file names of the schema under test (the working tree's), for the stand-in.
 * @param override COMPAT_BASE: any revision git knows.
 */
export function previousRelease(repo: string, migrations: string[], override?: string): PreviousRelease {
  if (override) {
    let sha: string;
    try {
      sha = commitOf(repo, override);
    } catch {
      throw new CompatError(`COMPAT_BASE=${override} is not a commit of this repository`);
    }
    return { sha, how: `COMPAT_BASE=${override}`, standIn: false };
  }
  if (git(repo, ['rev-parse', '--is-shallow-repository']) === 'true') {
    throw new ShallowClone(
      'this clone is shallow, so the previous release may be missing from it: clone with full history ' +
        '(git clone without --depth, or git fetch --unshallow --tags) or name it with COMPAT_BASE=<revision>',
    );
  }
  const tag = newestReleaseTag(repo);
  if (tag) return { sha: commitOf(repo, tag), how: `the newest release tag before HEAD, ${tag}`, standIn: false };
  const before = beforeNewestMigration(repo, migrations);
  return {
    sha: before.sha,
    how: `no v* release tag is reachable from HEAD (none released yet, or the clone has no tags): standing in for the previous release with ${before.how}`,
    standIn: true,
  };
}
