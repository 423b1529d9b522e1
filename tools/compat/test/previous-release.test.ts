/**
 * Which commit `make compat-test` takes as the previous release, and its migration check, on real git
 * repositories made in a temporary directory.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompatError, previousRelease } from '../previous-release';
import { releasedMigrationProblems } from '../previous-tree';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function git(repo: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { cwd: repo, encoding: 'utf8' }).trim();
}

/** A repository whose history adds one migration per commit: `m1.sql`, `m2.sql`, …; commit(i) is the one adding `m<i>.sql`. */
function repoWithMigrations(count: number): { repo: string; commit: (i: number) => string } {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'compat-git-'));
  dirs.push(repo);
  git(repo, 'init', '-q', '-b', 'main');
  fs.mkdirSync(path.join(repo, 'app', 'migrations'), { recursive: true });
  fs.writeFileSync(path.join(repo, 'README'), 'x\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'start');
  const commits: string[] = [git(repo, 'rev-parse', 'HEAD')];
  for (let i = 1; i <= count; i++) {
    fs.writeFileSync(path.join(repo, 'app', 'migrations', `m${i}.sql`), `-- Up Migration\nCREATE TABLE t${i} ();\n`);
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', `migration ${i}`);
    commits.push(git(repo, 'rev-parse', 'HEAD'));
  }
  const commit = (i: number) => {
    const sha = commits[i];
    if (sha === undefined) throw new Error(`no commit ${i}`);
    return sha;
  };
  return { repo, commit };
}

const migrationsOf = (repo: string) => fs.readdirSync(path.join(repo, 'app', 'migrations'));

describe('the previous release', () => {
  test('when release tags exist, then it is the newest by version that HEAD contains, not one on HEAD itself', () => {
    const { repo, commit } = repoWithMigrations(3);
    git(repo, 'tag', '-a', 'v0.9.0', '-m', 'r', commit(1));
    git(repo, 'tag', '-a', 'v0.10.0', '-m', 'r', commit(2));
    git(repo, 'tag', '-a', 'v0.11.0', '-m', 'r', commit(3)); // HEAD: this release itself
    git(repo, 'tag', 'unrelated', commit(0));
    expect(previousRelease(repo, migrationsOf(repo))).toEqual({
      sha: commit(2),
      how: 'the newest release tag before HEAD, v0.10.0',
      standIn: false,
    });
  });

  test('when no release tag exists, then the stand-in is the commit before the newest migration came in, flagged as such', () => {
    const { repo, commit } = repoWithMigrations(3);
    fs.writeFileSync(path.join(repo, 'README'), 'later\n');
    git(repo, 'commit', '-q', '-am', 'a later change without a migration');
    const base = previousRelease(repo, migrationsOf(repo));
    expect(base.sha).toBe(commit(2));
    expect(base.standIn).toBe(true);
    expect(base.how).toMatch(/^no v\* release tag is reachable from HEAD .*the commit before m3\.sql came in with /);
  });

  test('when the newest migration is not committed yet, then the stand-in is HEAD', () => {
    const { repo, commit } = repoWithMigrations(2);
    fs.writeFileSync(path.join(repo, 'app', 'migrations', 'm3.sql'), 'CREATE TABLE t3 ();\n');
    expect(previousRelease(repo, migrationsOf(repo))).toMatchObject({ sha: commit(2), standIn: true });
  });

  test('when COMPAT_BASE names a revision, then that is taken; when it names none, then the error says so', () => {
    const { repo, commit } = repoWithMigrations(2);
    expect(previousRelease(repo, migrationsOf(repo), 'HEAD~2')).toEqual({ sha: commit(0), how: 'COMPAT_BASE=HEAD~2', standIn: false });
    expect(() => previousRelease(repo, migrationsOf(repo), 'v9.9.9')).toThrow('COMPAT_BASE=v9.9.9 is not a commit of this repository');
  });

  test('when the clone is shallow, then it refuses to guess and says how to get the history', () => {
    const { repo } = repoWithMigrations(3);
    const shallow = fs.mkdtempSync(path.join(os.tmpdir(), 'compat-shallow-'));
    dirs.push(shallow);
    git(shallow, 'clone', '-q', '--depth', '1', `file://${repo}`, '.');
    expect(() => previousRelease(shallow, migrationsOf(shallow))).toThrow(CompatError);
    expect(() => previousRelease(shallow, migrationsOf(shallow))).toThrow(/shallow.*git fetch --unshallow --tags.*COMPAT_BASE/);
  });
});

describe("the previous release's migrations", () => {
  test('when ours only add migrations after them, then nothing is reported', () => {
    const { repo, commit } = repoWithMigrations(3);
    expect(releasedMigrationProblems(repo, commit(2), path.join(repo, 'app', 'migrations'))).toEqual([]);
  });

  test('when a released migration was edited, removed or has a new one sorted before it, then each is named', () => {
    const { repo, commit } = repoWithMigrations(3);
    const dir = path.join(repo, 'app', 'migrations');
    fs.appendFileSync(path.join(dir, 'm1.sql'), 'ALTER TABLE t1 ADD COLUMN x int;\n');
    fs.rmSync(path.join(dir, 'm2.sql'));
    fs.writeFileSync(path.join(dir, 'm20.sql'), 'CREATE TABLE t20 ();\n');
    expect(releasedMigrationProblems(repo, commit(3), dir)).toEqual([
      'm1.sql was edited after the previous release ran it: released migrations never change, add a new one',
      'm2.sql of the previous release is gone',
      "m20.sql sorts before the previous release's m3.sql: new migrations go last",
    ]);
  });
});
