/**
 * `make release`: bump the service's version (app/package.json, the one source of it) with
 * `npm version`, which also updates the app workspace's entry in package-lock.json, so the next dev
 * build is a new, distinct image.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PromoteError } from './errors';
import { Bump, bumpVersion, checkVersion } from './semver';

export const BUMPS: readonly Bump[] = ['patch', 'minor', 'major'];

const appVersion = (root: string): string =>
  (JSON.parse(fs.readFileSync(path.join(root, 'app', 'package.json'), 'utf8')) as { version?: string }).version ?? '';

export function release(root: string, bump: string): { from: string; to: string } {
  if (!(BUMPS as readonly string[]).includes(bump)) throw new PromoteError(`unknown BUMP "${bump}": expected one of ${BUMPS.join(', ')}`);
  const from = checkVersion(appVersion(root), 'app/package.json version');
  const to = bumpVersion(from, bump as Bump);
  // --package-lock-only: the lockfile's app entry changes, node_modules is left alone (no install, no network).
  const npm = spawnSync(
    'npm',
    ['version', bump, '--workspace', 'app', '--no-git-tag-version', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'],
    { cwd: root, encoding: 'utf8' },
  );
  if (npm.error || npm.status !== 0) throw new PromoteError(`npm version ${bump} failed: ${npm.error?.message ?? npm.stderr.trim()}`);
  if (appVersion(root) !== to) throw new PromoteError(`npm version ${bump} left app/package.json at ${appVersion(root)}, expected ${to}`);
  return { from, to };
}
