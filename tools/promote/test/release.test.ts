/**
 * `make release` in throwaway git repositories: the version bump by `npm version` (app/package.json and the
 * app entry of package-lock.json, nothing else), the CHANGELOG.md section from the commits since the last
 * tag, one release commit and an annotated tag.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PromoteError } from '../errors';
import { release, withReleaseSection } from '../release';
import { bumpVersion, compareVersions } from '../semver';
import { gitRepo, npmWorkspace, snapshot, tempDir, writeRepo } from './fixtures';

/** The fixture changelog: its head (up to an empty [Unreleased]) and the release before, between which a new section goes. */
const CHANGELOG_HEAD = ['# Changelog', '', 'Intro.', '', '## [Unreleased]', ''];
const CHANGELOG_OLDER = ['## [1.4.2] - 2026-01-02', '', '### Changed', '- Older things', ''];
const CHANGELOG = [...CHANGELOG_HEAD, ...CHANGELOG_OLDER].join('\n');

/** A repository at version `version`, tagged v<version>, then the given commits (subjects) on top. */
function repo(version: string, commits: string[] = []) {
  const root = tempDir('release');
  const files: Record<string, string> = { ...npmWorkspace(), 'CHANGELOG.md': CHANGELOG };
  const current = (JSON.parse(files['app/package.json']!) as { version: string }).version;
  files['app/package.json'] = files['app/package.json']!.replace(`"version": "${current}"`, `"version": "${version}"`);
  files['package-lock.json'] = files['package-lock.json']!.replace(
    `"name": "@event-stack/app",\n      "version": "${current}"`,
    `"name": "@event-stack/app",\n      "version": "${version}"`,
  );
  writeRepo(root, files);
  const { git, env } = gitRepo(root);
  git('tag', '--annotate', `v${version}`, '--message', `event-stack ${version}`);
  commits.forEach((subject, i) => {
    fs.writeFileSync(path.join(root, `change-${i}.txt`), subject);
    git('add', '--all');
    git('commit', '--quiet', '-m', subject);
  });
  return { root, git, env };
}

/** Lines that differ between two texts of the same line count. */
function changedLines(a: string, b: string): [string, string][] {
  const x = a.split('\n');
  const y = b.split('\n');
  expect(y).toHaveLength(x.length);
  return x.flatMap((line, i) => (line === y[i] ? [] : [[line, y[i] ?? '']]));
}

test('when BUMP=minor, then the bump, the changelog section and an annotated tag on the release commit come in one step', () => {
  const { root, git, env } = repo('1.4.2', ['Add the heartbeat receiver', 'Fix: a cursor with a bad time got 500', 'Merge-free change']);
  const before = snapshot(root);
  const r = release({ root, bump: 'minor', env, date: '2026-11-27' });
  expect(r).toEqual({
    from: '1.4.2',
    to: '1.5.0',
    tag: 'v1.5.0',
    firstRelease: false,
    changes: ['Merge-free change', 'Fix: a cursor with a bad time got 500', 'Add the heartbeat receiver'],
  });
  const after = snapshot(root);
  expect(changedLines(before['app/package.json']!, after['app/package.json']!)).toEqual([
    ['  "version": "1.4.2",', '  "version": "1.5.0",'],
  ]);
  expect(changedLines(before['package-lock.json']!, after['package-lock.json']!)).toEqual([
    ['      "version": "1.4.2",', '      "version": "1.5.0",'],
  ]);
  const section = [
    '## [1.5.0] - 2026-11-27',
    '',
    '### Changed',
    '- Merge-free change',
    '- Add the heartbeat receiver',
    '',
    '### Fixed',
    '- Fix: a cursor with a bad time got 500',
    '',
  ];
  expect(after['CHANGELOG.md']).toBe([...CHANGELOG_HEAD, ...section, ...CHANGELOG_OLDER].join('\n'));
  // One commit holding exactly those three files, tagged with an annotated tag carrying the section.
  expect(git('log', '-1', '--format=%s').trim()).toBe('Release 1.5.0');
  expect(git('show', '--name-only', '--format=', 'HEAD').trim().split('\n').sort()).toEqual([
    'CHANGELOG.md',
    'app/package.json',
    'package-lock.json',
  ]);
  expect(git('cat-file', '-t', 'v1.5.0').trim()).toBe('tag');
  expect(git('rev-parse', 'v1.5.0^{commit}')).toBe(git('rev-parse', 'HEAD'));
  expect(git('tag', '-l', '--format=%(contents)', 'v1.5.0')).toContain('event-stack 1.5.0\n\n## [1.5.0] - 2026-11-27');
  expect(git('status', '--porcelain').trim()).toBe('');
});

test('when there is a release already, then the next one lists only the commits after its tag', () => {
  const { root, git, env } = repo('1.4.2', ['First change']);
  release({ root, bump: 'patch', env, date: '2026-11-27' });
  fs.writeFileSync(path.join(root, 'later.txt'), 'later');
  git('add', '--all');
  git('commit', '--quiet', '-m', 'Second change');
  expect(release({ root, bump: 'patch', env, date: '2026-11-28' }).changes).toEqual(['Second change']);
  expect(fs.readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8')).toMatch(
    /## \[1\.4\.4\] - 2026-11-28\n\n### Changed\n- Second change\n\n## \[1\.4\.3\]/,
  );
});

test('when something is written under [Unreleased], then it opens the new section and [Unreleased] is left empty', () => {
  const text = withReleaseSection(
    CHANGELOG.replace('## [Unreleased]\n', '## [Unreleased]\n\n### Removed\n- The old flag\n'),
    '1.5.0',
    '2026-11-27',
    ['A change'],
  );
  expect(text).toContain(
    '## [Unreleased]\n\n## [1.5.0] - 2026-11-27\n\n### Removed\n- The old flag\n\n### Changed\n- A change\n\n## [1.4.2]',
  );
});

test('when the hand-written text under [Unreleased] has a ### Changed group, then the commits join it: one heading of each kind', () => {
  const text = withReleaseSection(
    CHANGELOG.replace('## [Unreleased]\n', '## [Unreleased]\n\nA note.\n\n### Changed\n- By hand\n\n### Fixed\n- A hand fix\n'),
    '1.5.0',
    '2026-11-27',
    ['A change', 'Fix a bug'],
  );
  expect(text).toContain(
    '## [1.5.0] - 2026-11-27\n\nA note.\n\n### Changed\n- By hand\n- A change\n\n### Fixed\n- A hand fix\n- Fix a bug\n\n## [1.4.2]',
  );
});

test('when promotions and rollbacks were committed since the last tag, then the release notes leave them out', () => {
  const { root, git, env } = repo('1.4.2', ['A change']);
  fs.writeFileSync(path.join(root, 'ledger.txt'), 'x');
  git('add', '--all');
  git('commit', '--quiet', '-m', 'Promote 1.4.2 dev → qa\n\nbody\n\nEvent-Stack-Ledger: promote');
  expect(release({ root, bump: 'patch', env, date: '2026-11-27' })).toMatchObject({ changes: ['A change'], firstRelease: false });
});

test('when the repository has no v* tag, then the first release lists every commit since the first and says it is the first', () => {
  const { root, git, env } = repo('1.4.2', ['A change']);
  git('tag', '--delete', 'v1.4.2');
  expect(release({ root, bump: 'patch', env, date: '2026-11-27' })).toMatchObject({
    changes: ['A change', 'Initial import'],
    firstRelease: true,
  });
});

const BAD_INPUT: [string, string, (root: string) => void, string, RegExp][] = [
  ['BUMP is unknown', '1.4.2', () => undefined, 'huge', /unknown BUMP "huge": expected one of patch, minor, major/],
  [
    'the working tree has uncommitted changes',
    '1.4.2',
    (root) => fs.appendFileSync(path.join(root, 'CHANGELOG.md'), 'x'),
    'patch',
    /uncommitted changes/,
  ],
  [
    'app/package.json holds a malformed version',
    '1.4',
    () => undefined,
    'patch',
    /app\/package\.json version "1\.4": must be a semantic version/,
  ],
];

test.each(BAD_INPUT)('when %s, then a clear message and nothing changes', (_what, version, spoil, bump, message) => {
  const { root, git, env } = repo(version, ['A change']);
  spoil(root);
  const before = snapshot(root);
  const head = git('rev-parse', 'HEAD');
  expect(() => release({ root, bump, env })).toThrow(PromoteError);
  expect(() => release({ root, bump, env })).toThrow(message);
  expect(snapshot(root)).toEqual(before);
  expect(git('rev-parse', 'HEAD')).toBe(head);
});

test('when the tag of the next version exists already, then a clear message and nothing changes', () => {
  const { root, git, env } = repo('1.4.2', ['A change']);
  git('tag', 'v1.4.3');
  const before = snapshot(root);
  expect(() => release({ root, bump: 'patch', env })).toThrow('tag v1.4.3 exists already');
  expect(snapshot(root)).toEqual(before);
});

test.each([
  ['patch', '1.4.2', '1.4.3'],
  ['minor', '1.4.2', '1.5.0'],
  ['major', '1.4.2', '2.0.0'],
  ['patch', '2.0.0-rc.1', '2.0.0'],
] as const)('when BUMP=%s of %s, then the new version is %s', (bump, from, to) => {
  expect(bumpVersion(from, bump)).toBe(to);
});

test('versions compare by semver precedence, not as text', () => {
  expect(compareVersions('1.10.0', '1.9.0')).toBeGreaterThan(0);
  expect(compareVersions('1.0.0-rc.1', '1.0.0')).toBeLessThan(0);
  expect(compareVersions('1.0.0-rc.2', '1.0.0-rc.10')).toBeLessThan(0);
  expect(compareVersions('1.0.0-alpha', '1.0.0-alpha.1')).toBeLessThan(0);
  expect(compareVersions('2.3.4', '2.3.4')).toBe(0);
});
