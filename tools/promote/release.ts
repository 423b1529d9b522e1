/**
 * `make release`: one step from "main is ready" to a tagged release. It bumps the service's version
 * (app/package.json, the one source of it) with `npm version`, which also updates the app workspace's
 * entry in package-lock.json; turns the commits since the last `v*` tag into a CHANGELOG.md section (Keep a
 * Changelog); commits both; and creates the annotated tag `v<version>`. The next dev build is a new image.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PromoteError } from './errors';
import { Bump, bumpVersion, checkVersion } from './semver';

export const BUMPS: readonly Bump[] = ['patch', 'minor', 'major'];
export const CHANGELOG = 'CHANGELOG.md';
const UNRELEASED = '## [Unreleased]';

export interface ReleaseOptions {
  root: string;
  bump: string;
  env?: NodeJS.ProcessEnv;
  /** The release date (YYYY-MM-DD, UTC); today by default. */
  date?: string;
}

export interface Release {
  from: string;
  to: string;
  tag: string;
  /** The commit subjects the changelog section lists. */
  changes: string[];
  /** No `v*` tag existed: the section lists every commit since the first one. */
  firstRelease: boolean;
}

const appVersion = (root: string): string =>
  (JSON.parse(fs.readFileSync(path.join(root, 'app', 'package.json'), 'utf8')) as { version?: string }).version ?? '';

function run(cmd: string, args: string[], root: string, env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', env: env ?? process.env });
  if (r.error || r.status !== 0) throw new PromoteError(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Keep a Changelog groups; a subject starting with "Fix" is a fix, every other one a change. What was written by
 * hand under [Unreleased] keeps its place; its `### Kind` groups take the commits of their kind, so each heading
 * appears once in the section.
 */
function section(version: string, date: string, handWritten: string, subjects: string[]): string {
  const groups = new Map<string, string[]>();
  const preamble: string[] = [];
  let current: string[] = preamble;
  for (const line of handWritten ? handWritten.split('\n') : []) {
    const heading = /^### (.+?)\s*$/.exec(line);
    if (heading) {
      current = groups.get(heading[1]!) ?? [];
      groups.set(heading[1]!, current);
    } else current.push(line);
  }
  const add = (kind: string, items: string[]) => {
    if (!items.length) return;
    const group = groups.get(kind) ?? [];
    while (group.length && group[group.length - 1]!.trim() === '') group.pop();
    group.push(...items.map((s) => `- ${s}`));
    groups.set(kind, group);
  };
  add(
    'Changed',
    subjects.filter((s) => !/^fix\b/i.test(s)),
  );
  add(
    'Fixed',
    subjects.filter((s) => /^fix\b/i.test(s)),
  );
  const trimmed = (lines: string[]) => lines.join('\n').trim();
  return [
    `## [${version}] - ${date}`,
    '',
    ...(trimmed(preamble) ? [trimmed(preamble), ''] : []),
    ...[...groups].flatMap(([kind, lines]) => [`### ${kind}`, trimmed(lines), '']),
  ].join('\n');
}

/** CHANGELOG.md with a new version section right under [Unreleased], which takes over what was written there. */
export function withReleaseSection(changelog: string, version: string, date: string, subjects: string[]): string {
  const at = changelog.indexOf(UNRELEASED);
  if (at < 0) throw new PromoteError(`${CHANGELOG} has no "${UNRELEASED}" heading to release from`);
  const bodyStart = at + UNRELEASED.length;
  const next = changelog.indexOf('\n## [', bodyStart);
  const bodyEnd = next < 0 ? changelog.length : next + 1;
  const handWritten = changelog.slice(bodyStart, bodyEnd).trim();
  if (!handWritten && subjects.length === 0)
    throw new PromoteError(`nothing to release: no commit since the last tag and nothing under ${UNRELEASED}`);
  return `${changelog.slice(0, at)}${UNRELEASED}\n\n${section(version, date, handWritten, subjects)}\n${changelog.slice(bodyEnd)}`;
}

export function release(o: ReleaseOptions): Release {
  const { root, bump, env } = o;
  if (!(BUMPS as readonly string[]).includes(bump)) throw new PromoteError(`unknown BUMP "${bump}": expected one of ${BUMPS.join(', ')}`);
  const git = (...args: string[]) => run('git', args, root, env);
  // Everything it writes goes into one commit: start from a clean tree so nothing else slips in.
  const dirty = git('status', '--porcelain', '--untracked-files=no').trim();
  if (dirty) throw new PromoteError(`the working tree has uncommitted changes; commit or stash them first:\n${dirty}`);
  const from = checkVersion(appVersion(root), 'app/package.json version');
  const to = bumpVersion(from, bump as Bump);
  const tag = `v${to}`;
  if (git('tag', '--list', tag).trim()) throw new PromoteError(`tag ${tag} exists already`);
  const lastTag = git('tag', '--list', 'v*', '--merged', 'HEAD', '--sort=-v:refname').split('\n')[0]?.trim();
  // Promotion, rollback and deploy commits (tools/promote/apply.ts) record deploys, not changes of the product.
  const subjects = git(
    'log',
    '--no-merges',
    '--invert-grep',
    '--grep=^Event-Stack-Ledger: ',
    '--format=%s',
    ...(lastTag ? [`${lastTag}..HEAD`] : []),
  )
    .split('\n')
    .filter((s) => s.trim() !== '');
  const changelogFile = path.join(root, CHANGELOG);
  const date = o.date ?? new Date().toISOString().slice(0, 10);
  const changelog = withReleaseSection(fs.readFileSync(changelogFile, 'utf8'), to, date, subjects);

  // --package-lock-only: the lockfile's app entry changes, node_modules is left alone (no install, no network).
  run(
    'npm',
    ['version', bump, '--workspace', 'app', '--no-git-tag-version', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'],
    root,
    env,
  );
  if (appVersion(root) !== to) throw new PromoteError(`npm version ${bump} left app/package.json at ${appVersion(root)}, expected ${to}`);
  fs.writeFileSync(changelogFile, changelog);
  git('add', 'app/package.json', 'package-lock.json', CHANGELOG);
  git('commit', '--quiet', '-m', `Release ${to}`);
  const notes = changelog
    .slice(changelog.indexOf(`## [${to}]`))
    .split('\n## [')[0]!
    .trim();
  // verbatim: by default git drops message lines starting with "#", the changelog's headings.
  git('tag', '--annotate', '--cleanup=verbatim', tag, '--message', `event-stack ${to}\n\n${notes}`);
  return { from, to, tag, changes: subjects, firstRelease: !lastTag };
}
