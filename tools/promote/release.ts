/**
 * `make release`: bump the service's version (app/package.json, the one source of it, and the
 * workspace entry in package-lock.json) so the next dev build is a new, distinct image.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PromoteError } from './errors';
import { Bump, bumpSemVer, parseSemVer } from './semver';

export const BUMPS: readonly Bump[] = ['patch', 'minor', 'major'];

/** Replaces the value of the first `"version"` key at the given indentation, leaving every other byte alone. */
function replaceVersion(text: string, file: string, indent: string, from: string, to: string): string {
  const pattern = new RegExp(`^(${indent}"version": )"${from.replace(/[.+]/g, '\\$&')}"`, 'm');
  const out = text.replace(pattern, `$1"${to}"`);
  if (out === text) throw new PromoteError(`${file}: could not find version "${from}" to replace (is it in sync with app/package.json?)`);
  return out;
}

export function release(root: string, bump: string): { from: string; to: string } {
  if (!(BUMPS as readonly string[]).includes(bump)) throw new PromoteError(`unknown BUMP "${bump}": expected one of ${BUMPS.join(', ')}`);
  const pkgFile = path.join(root, 'app', 'package.json');
  const lockFile = path.join(root, 'package-lock.json');
  const pkgText = fs.readFileSync(pkgFile, 'utf8');
  const from = (JSON.parse(pkgText) as { version?: string }).version ?? '';
  parseSemVer(from);
  const to = bumpSemVer(from, bump as Bump);
  const pkg = replaceVersion(pkgText, 'app/package.json', '  ', from, to);
  if ((JSON.parse(pkg) as { version?: string }).version !== to) throw new PromoteError('app/package.json did not take the new version');
  // In the lockfile the workspace's entry is `packages["app"]`, its keys indented by six spaces.
  const lockText = fs.readFileSync(lockFile, 'utf8');
  const appEntry = lockText.indexOf('\n    "app": {');
  if (appEntry < 0) throw new PromoteError('package-lock.json has no entry for the app workspace (packages["app"]); run npm install');
  const lock = lockText.slice(0, appEntry) + replaceVersion(lockText.slice(appEntry), 'package-lock.json', '      ', from, to);
  if ((JSON.parse(lock) as { packages: Record<string, { version?: string }> }).packages.app?.version !== to) {
    throw new PromoteError('package-lock.json: the app workspace entry did not take the new version');
  }
  fs.writeFileSync(pkgFile, pkg);
  fs.writeFileSync(lockFile, lock);
  return { from, to };
}
