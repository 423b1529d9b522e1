/**
 * The make targets as a person runs them: `make promote`, `make status`, `make release` on a
 * fixture repository (PROMOTE_ROOT), with or without a stand-in `pulumi` on PATH.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readLedger } from '../ledger';
import {
  DEPLOY_ENV,
  deployCalls,
  gitRepo,
  npmWorkspace,
  pathWithout,
  promotionRepo,
  PulumiStub,
  ref,
  REPO_ROOT,
  SHARED_PROMETHEUS_STAGE,
  snapshot,
  tempDir,
} from './fixtures';
import { prometheusWithHistory } from './prometheus';

let prom: Awaited<ReturnType<typeof prometheusWithHistory>>;
let dir: string;

beforeAll(async () => {
  dir = tempDir('cli');
  prom = await prometheusWithHistory(path.join(dir, 'prom'), {
    instances: [{ instance: 'a', version: '1.2.0', startedMinutesAgo: 120 }],
    rps: 5,
    stage: SHARED_PROMETHEUS_STAGE,
    errorShare: () => 0,
  });
}, 60000);

/** A fixture repository of its own for each test, and a stand-in pulumi beside it (not on PATH unless asked). */
function fixture(o: { git?: boolean } = {}): { root: string; stub: PulumiStub } {
  const base = fs.mkdtempSync(path.join(dir, 'repo-'));
  return promotionRepo(base, { prometheusUrl: prom.url, edit: (files) => Object.assign(files, npmWorkspace()), git: o.git });
}

afterAll(async () => {
  await prom?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** `make <target> PROMOTE_ROOT=<fixture> vars…`, without re-running npm ci. */
function make(root: string, target: string, vars: Record<string, string>, env: NodeJS.ProcessEnv = {}) {
  const args = [
    '-s',
    '-o',
    'node_modules/.install-stamp',
    target,
    `PROMOTE_ROOT=${root}`,
    ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
  ];
  const run = spawnSync('make', args, {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, PATH: pathWithout(), ...DEPLOY_ENV, ...env },
    timeout: 60000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

test('when the real Pulumi CLI is missing, then `make promote` (deploying) says so clearly, fails and changes nothing', () => {
  const { root } = fixture();
  const before = snapshot(root);
  const r = make(root, 'promote', { VERSION: '1.2.0' });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain(
    'promote: the Pulumi CLI (`pulumi`) is not on PATH: install it (https://www.pulumi.com/docs/install/), or run with DEPLOY=0',
  );
  expect(snapshot(root)).toEqual(before);
});

test('when VERSION is malformed, then `make promote` names the problem and fails', () => {
  const { root, stub } = fixture();
  const before = snapshot(root);
  const r = make(root, 'promote', { VERSION: 'latest' }, { PATH: pathWithout([stub.binDir]) });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain('promote: VERSION "latest": must be a semantic version MAJOR.MINOR.PATCH');
  expect(snapshot(root)).toEqual(before);
});

test("when a stand-in pulumi is on PATH, then `make promote` reads dev's outputs, gates, pins qa and runs pulumi up; `make status` shows it", () => {
  const { root, stub } = fixture();
  const r = make(root, 'promote', { VERSION: '1.2.0' }, { PATH: pathWithout([stub.binDir]) });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/gate dev \(http:\/\/127\.0\.0\.1:\d+\): PASSED[\s\S]*promoted 1\.2\.0 dev → qa[\s\S]*deployed 1\.2\.0 to qa/);
  expect(stub.calls()).toEqual([['stack', 'output', '--json', '--stack', 'dev'], ...deployCalls('qa')]);
  expect(readLedger(root).map((x) => [x.version, x.from, x.to])).toEqual([['1.2.0', 'dev', 'qa']]);

  const status = make(root, 'status', {}, { PATH: pathWithout([stub.binDir]) });
  expect(status.status).toBe(0);
  const lines = status.stdout.split('\n');
  expect(lines[0]).toMatch(/^stage\s+pinned\s+ledger\s+running\s+last change$/);
  expect(lines[1]).toMatch(/^dev\s+1\.2\.0\s+\(builds\)\s+1\.2\.0$/);
  expect(lines[2]).toMatch(/^qa\s+1\.2\.0\s+1\.2\.0 promote deployed\s+1\.2\.0\s+\d{4}-\d\d-\d\d \d\d:\d\d \S+/);
  // The fixtures' stages share one Prometheus, which runs only 1.2.0: the others are flagged.
  expect(lines[3]).toMatch(/^staging\s+1\.0\.0\s+\(none\)\s+1\.2\.0\s+!$/);
  expect(lines[4]).toMatch(/^prod\s+0\.9\.0\s+\(none\)\s+1\.2\.0\s+!$/);
  expect(status.stdout).toContain('staging: ! running 1.2.0, but the stack file pins 1.0.0');
  for (const line of lines) expect(line.length).toBeLessThanOrEqual(100);
  expect(status.stdout).not.toContain(ref('c'));
  expect(make(root, 'status', { V: '1' }, { PATH: pathWithout([stub.binDir]) }).stdout).toContain(`qa: ${ref('c')}`);
});

test('when a stack file was edited by hand after its promotion, then `make status` warns that it differs from the ledger', () => {
  const { root, stub } = fixture();
  expect(make(root, 'promote', { VERSION: '1.2.0', DEPLOY: '0' }, { PATH: pathWithout([stub.binDir]) }).status).toBe(0);
  const file = path.join(root, 'Pulumi.qa.yaml');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(ref('c'), ref('d')));
  const status = make(root, 'status', {}, { DEV_IMAGE_REF: ref('c'), DEV_VERSION: '1.2.0' });
  expect(status.stdout).toMatch(
    /qa: ! the stack file pins 1\.2\.0, the ledger's last deploy is 1\.2\.0 \(.*@sha256:c{64}\): edited by hand\?/,
  );
});

test('when the Pulumi CLI is missing, then `make status` still shows the pinned stages and says why dev is unknown', () => {
  const { root } = fixture();
  const status = make(root, 'status', {});
  expect(status.status).toBe(0);
  expect(status.stdout).toMatch(/^dev\s+\?\s+\(builds\)/m);
  expect(status.stdout).toMatch(/dev: unknown: cannot tell what dev runs: the Pulumi CLI .* DEV_IMAGE_REF=/);
  expect(status.stdout).toMatch(/^staging\s+1\.0\.0\s+\(none\)/m);
});

test('when TO skips a stage, then `make promote` refuses and says FORCE=1 overrides', () => {
  const { root, stub } = fixture();
  const before = snapshot(root);
  const r = make(root, 'promote', { VERSION: '1.2.0', TO: 'staging', DEPLOY: '0' }, { PATH: pathWithout([stub.binDir]) });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/promote: refused:\n {2}- skipping qa: 1\.2\.0 runs up to dev[\s\S]*FORCE=1 overrides/);
  expect(snapshot(root)).toEqual(before);
});

test('when `make release BUMP=minor`, then app/package.json, the lockfile and CHANGELOG.md carry the next minor version, committed and tagged', () => {
  const { root } = fixture({ git: false });
  fs.writeFileSync(path.join(root, 'CHANGELOG.md'), '# Changelog\n\n## [Unreleased]\n');
  const { git, env } = gitRepo(root);
  const from = (JSON.parse(fs.readFileSync(path.join(root, 'app/package.json'), 'utf8')) as { version: string }).version;
  const [major, minor] = from.split('.');
  const r = make(root, 'release', { BUMP: 'minor' }, env);
  expect(r.status).toBe(0);
  const to = `${major}.${Number(minor) + 1}.0`;
  expect(r.stdout).toContain(`release: ${from} → ${to}`);
  expect((JSON.parse(fs.readFileSync(path.join(root, 'app/package.json'), 'utf8')) as { version: string }).version).toBe(to);
  expect(fs.readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8')).toContain(`## [${to}] - `);
  expect(git('describe', '--exact-match', 'HEAD').trim()).toBe(`v${to}`);
});

test('when bin/event-stack is called directly, then its exit code tells bad input (2), a refusal (3) and a failed deploy (4) apart', () => {
  const bin = (root: string, stub: PulumiStub, ...args: string[]) =>
    spawnSync(path.join(REPO_ROOT, 'bin', 'event-stack'), ['promote', '--root', root, ...args], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, PATH: pathWithout([stub.binDir]), ...DEPLOY_ENV },
    }).status;
  const a = fixture();
  expect(bin(a.root, a.stub, '--version', '1.2', '--deploy', '0')).toBe(2);
  expect(bin(a.root, a.stub, '--version', '1.2.0', '--to', 'staging', '--deploy', '0')).toBe(3);
  const b = fixture();
  b.stub.setUpExit(1);
  expect(bin(b.root, b.stub, '--version', '1.2.0')).toBe(4);
  // Through make the same refusal is make's own exit code 2, after the tool's code and its meaning: why bin/event-stack exists.
  const c = fixture();
  const r = make(c.root, 'promote', { VERSION: '1.2.0', TO: 'staging', DEPLOY: '0' }, { PATH: pathWithout([c.stub.binDir]) });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('event-stack: exit 3 (refused)');
});
