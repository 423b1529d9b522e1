/** `make release`: semver bumps of app/package.json and the app workspace entry of package-lock.json, by `npm version`. */
import fs from 'node:fs';
import { PromoteError } from '../errors';
import { release } from '../release';
import { bumpVersion, compareVersions } from '../semver';
import { npmWorkspace, snapshot, tempDir, writeRepo } from './fixtures';

function repoCopy(version?: string): string {
  const root = tempDir('release');
  const files = npmWorkspace();
  const current = (JSON.parse(files['app/package.json']!) as { version: string }).version;
  if (version) {
    files['app/package.json'] = files['app/package.json']!.replace(`"version": "${current}"`, `"version": "${version}"`);
    files['package-lock.json'] = files['package-lock.json']!.replace(
      `"name": "@event-stack/app",\n      "version": "${current}"`,
      `"name": "@event-stack/app",\n      "version": "${version}"`,
    );
  }
  writeRepo(root, files);
  return root;
}

/** Lines that differ between two texts of the same line count. */
function changedLines(a: string, b: string): [string, string][] {
  const x = a.split('\n');
  const y = b.split('\n');
  expect(y).toHaveLength(x.length);
  return x.flatMap((line, i) => (line === y[i] ? [] : [[line, y[i] ?? '']]));
}

test('when BUMP=minor, then only the version lines of app/package.json and of the app entry in package-lock.json change', () => {
  const root = repoCopy('1.4.2');
  const before = snapshot(root);
  expect(release(root, 'minor')).toEqual({ from: '1.4.2', to: '1.5.0' });
  const after = snapshot(root);
  expect(changedLines(before['app/package.json'] ?? '', after['app/package.json'] ?? '')).toEqual([
    ['  "version": "1.4.2",', '  "version": "1.5.0",'],
  ]);
  expect(changedLines(before['package-lock.json'] ?? '', after['package-lock.json'] ?? '')).toEqual([
    ['      "version": "1.4.2",', '      "version": "1.5.0",'],
  ]);
  const lock = JSON.parse(after['package-lock.json'] ?? '') as { version?: string; packages: Record<string, { version?: string }> };
  expect(lock.packages.app?.version).toBe('1.5.0');
  expect(lock.packages['']?.version).toBe((JSON.parse(before['package-lock.json'] ?? '') as { version?: string }).version);
  fs.rmSync(root, { recursive: true });
});

test.each([
  ['patch', '1.4.2', '1.4.3'],
  ['minor', '1.4.2', '1.5.0'],
  ['major', '1.4.2', '2.0.0'],
  ['patch', '2.0.0-rc.1', '2.0.0'],
] as const)('when BUMP=%s of %s, then the new version is %s', (bump, from, to) => {
  expect(bumpVersion(from, bump)).toBe(to);
});

test('when BUMP is unknown, then a clear message and nothing changes', () => {
  const root = repoCopy();
  const before = snapshot(root);
  expect(() => release(root, 'huge')).toThrow(new PromoteError('unknown BUMP "huge": expected one of patch, minor, major'));
  expect(snapshot(root)).toEqual(before);
  fs.rmSync(root, { recursive: true });
});

test('when app/package.json holds a malformed version, then a clear message and nothing changes', () => {
  const root = repoCopy('1.4');
  const before = snapshot(root);
  expect(() => release(root, 'patch')).toThrow(/app\/package\.json version "1\.4": must be a semantic version/);
  expect(snapshot(root)).toEqual(before);
  fs.rmSync(root, { recursive: true });
});

test('versions compare by semver precedence, not as text', () => {
  expect(compareVersions('1.10.0', '1.9.0')).toBeGreaterThan(0);
  expect(compareVersions('1.0.0-rc.1', '1.0.0')).toBeLessThan(0);
  expect(compareVersions('1.0.0-rc.2', '1.0.0-rc.10')).toBeLessThan(0);
  expect(compareVersions('1.0.0-alpha', '1.0.0-alpha.1')).toBeLessThan(0);
  expect(compareVersions('2.3.4', '2.3.4')).toBe(0);
});
