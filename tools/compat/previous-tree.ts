/**
 * The previous release's files, for `make compat-test`: its migrations compared with ours (released migrations
 * are append-only), and its tree extracted with `git archive` and installed with its own lockfile, once per
 * revision (out/compat/<sha>/).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CompatError, git, MIGRATIONS_PATH } from './previous-release';

/** The `.sql` migration file names of a revision, sorted. */
export function migrationsAt(repo: string, sha: string): string[] {
  return git(repo, ['ls-tree', '--name-only', `${sha}:${MIGRATIONS_PATH}`])
    .split('\n')
    .filter((f) => f.endsWith('.sql'))
    .sort();
}

/**
 * The previous release's migrations must be the first ones of ours, unchanged: a database it migrated is then
 * our schema "behind", and ours extends it. Returns what breaks that, one line each.
 */
export function releasedMigrationProblems(repo: string, sha: string, migrationsDir: string): string[] {
  const released = migrationsAt(repo, sha);
  const last = released.at(-1) ?? '';
  const changed = released.flatMap((file) => {
    const mine = path.join(migrationsDir, file);
    if (!fs.existsSync(mine)) return [`${file} of the previous release is gone`];
    const same = git(repo, ['hash-object', mine]) === git(repo, ['rev-parse', `${sha}:${MIGRATIONS_PATH}/${file}`]);
    return same ? [] : [`${file} was edited after the previous release ran it: released migrations never change, add a new one`];
  });
  const misplaced = fs
    .readdirSync(migrationsDir)
    .filter((f) => f.endsWith('.sql') && !released.includes(f) && f < last)
    .sort()
    .map((f) => `${f} sorts before the previous release's ${last}: new migrations go last`);
  return [...changed, ...misplaced];
}

/** Runs a command with its output in `logFile`; rejects with the log's tail when it fails. */
function runLogged(command: string, args: string[], cwd: string, logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(logFile, 'a');
    const child = spawn(command, args, { cwd, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) return resolve();
      const tail = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-20).join('\n');
      reject(new CompatError(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}) in ${cwd}:\n${tail}`));
    });
  });
}

/**
 * `<cacheDir>/<sha>/tree`: the revision's files with its own dependencies (npm ci of its lockfile: the app's
 * workspace and the root's test tools). Reused when a previous run finished installing it.
 */
export async function previousTree(repo: string, sha: string, cacheDir: string, log: (line: string) => void): Promise<string> {
  const dir = path.join(cacheDir, sha);
  const tree = path.join(dir, 'tree');
  const ready = path.join(dir, 'installed');
  if (fs.existsSync(ready)) {
    log(`reusing ${path.relative(repo, tree)} (installed ${fs.readFileSync(ready, 'utf8').trim()})`);
    return tree;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(tree, { recursive: true });
  const logFile = path.join(dir, 'install.log');
  const started = Date.now();
  await runLogged('git', ['archive', '--format=tar', '-o', path.join(dir, 'tree.tar'), sha], repo, logFile);
  await runLogged('tar', ['-xf', path.join(dir, 'tree.tar'), '-C', tree], repo, logFile);
  fs.rmSync(path.join(dir, 'tree.tar'));
  log(`installing its dependencies: npm ci --prefer-offline -w app --include-workspace-root (log: ${path.relative(repo, logFile)})`);
  await runLogged('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline', '-w', 'app', '--include-workspace-root'], tree, logFile);
  fs.writeFileSync(ready, `${new Date().toISOString()}, in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  log(`extracted and installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return tree;
}
