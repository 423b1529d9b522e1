/**
 * The whole promotion story on four real Prometheus servers (one per stage, each with its own identity label and
 * synthetic history) and a stand-in `pulumi`: forward to prod, a burn in prod during the watch rolls back by
 * itself, the bad version stays refused, a manual rollback, and `make status` agreeing with the ledger. Every
 * step is one commit and one ledger line.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BadVersionError, PromoteError, RolledBackError } from '../errors';
import { actionOf, readLedger } from '../ledger';
import { promote } from '../promote';
import { LockedError } from '../repo';
import { rollback, unmarkBad } from '../rollback';
import { stageStatuses } from '../status';
import { STAGES } from '../stages';
import { DEPLOY_ENV, deployCalls, gitRepo, pathWithout, pulumiStub, ref, REPO_ROOT, stackFiles, tempDir, writeRepo } from './fixtures';
import { prometheusWithHistory, SyntheticHistory } from './prometheus';

type Prom = Awaited<ReturnType<typeof prometheusWithHistory>>;
const proms: Partial<Record<(typeof STAGES)[number], Prom>> = {};
let dir: string;

const V1 = { ref: ref('1'), version: '0.1.1' };
const V2 = { ref: ref('2'), version: '0.1.2' };
const OLD = { ref: ref('0'), version: '0.1.0' };

beforeAll(async () => {
  dir = tempDir('walk');
  const healthy = (stage: string, prefix: string): SyntheticHistory => ({
    stage,
    rps: 10,
    instances: [
      { instance: `${prefix}1`, version: V1.version, startedMinutesAgo: 180 },
      { instance: `${prefix}2`, version: V2.version, startedMinutesAgo: 180 },
    ],
  });
  const histories: Record<(typeof STAGES)[number], SyntheticHistory> = {
    dev: healthy('dev', 'd'),
    qa: healthy('qa', 'q'),
    staging: healthy('staging', 's'),
    // In prod 0.1.1 is healthy; 0.1.2's pod, three minutes old, answers one request in ten with a 500.
    prod: {
      stage: 'prod',
      rps: 10,
      instances: [
        { instance: 'p1', version: V1.version, startedMinutesAgo: 180, errorShare: () => 0 },
        { instance: 'p2', version: V2.version, startedMinutesAgo: 3, errorShare: () => 0.1 },
      ],
    },
  };
  const started = await Promise.all(STAGES.map((s) => prometheusWithHistory(path.join(dir, s), histories[s])));
  STAGES.forEach((s, i) => (proms[s] = started[i]));
}, 90000);

afterAll(async () => {
  await Promise.all(Object.values(proms).map((p) => p?.stop()));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The fixture's stack files, each stage asking its own Prometheus (identity: the stage's name). */
function repository() {
  const base = fs.mkdtempSync(path.join(dir, 'repo-'));
  const root = path.join(base, 'repo');
  const files = stackFiles({ qa: OLD, staging: OLD, prod: OLD, prometheusUrl: 'PROMETHEUS_URL', bakeMinutes: 0.03 });
  for (const stage of STAGES) {
    const name = `Pulumi.${stage}.yaml`;
    files[name] = (files[name] ?? '')
      .replace('PROMETHEUS_URL', proms[stage]?.url ?? '')
      .replace(/^ *event-stack:prometheusStage: .*\n/m, '');
  }
  writeRepo(root, files);
  const { git } = gitRepo(root);
  const stub = pulumiStub(base);
  const env = { PATH: pathWithout([stub.binDir]), ...DEPLOY_ENV };
  const log: string[] = [];
  const ctx = { root, env, user: 'Walk Test <walk@test.invalid>', log: (l: string) => log.push(l), pollSeconds: 0.5 };
  const commits = () => Number(git('rev-list', '--count', 'HEAD').trim());
  return { root, stub, env, ctx, log, git, commits };
}

const settle = async (p: Promise<unknown>) => {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (err instanceof PromoteError) return err;
    throw err;
  }
};

test('when 0.1.1 goes to prod, 0.1.2 follows and burns in prod, then the watch rolls prod back to 0.1.1, 0.1.2 stays refused, a manual rollback restores qa, and status matches the ledger', async () => {
  const r = repository();
  const forward = async (version: string) => {
    for (const to of ['qa', 'staging', 'prod']) await promote({ ...r.ctx, version, to, deploy: true, force: false });
  };
  r.stub.setOutputs({ imageRef: V1.ref, version: V1.version });
  await forward(V1.version);
  r.stub.setOutputs({ imageRef: V2.ref, version: V2.version });
  const burned = await settle(forward(V2.version));

  expect(burned).toBeInstanceOf(RolledBackError);
  expect(burned?.exitCode).toBe(5);
  expect(burned?.message).toMatch(
    /^0\.1\.2 was rolled back in prod and marked bad: watch: availability burn rate \d+\.\d\d of 0\.1\.2 in prod above 1/,
  );
  expect(r.log.join('\n')).toMatch(/watch prod 0\.1\.2: \d+ s left; burn rate \d+\.\d\d availability/);
  expect(fs.readFileSync(path.join(r.root, 'Pulumi.prod.yaml'), 'utf8')).toContain(V1.ref);

  // The bad version is refused, FORCE or not, through make as a person types it.
  const refused = await settle(promote({ ...r.ctx, version: V2.version, to: 'prod', deploy: true, force: true }));
  expect(refused).toBeInstanceOf(BadVersionError);
  expect(refused?.exitCode).toBe(3);
  const viaMake = spawnSync(
    'make',
    ['-s', '-o', 'node_modules/.install-stamp', 'promote', `PROMOTE_ROOT=${r.root}`, `VERSION=${V2.version}`],
    { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, ...r.env } },
  );
  expect(viaMake.status).toBe(2);
  expect(viaMake.stderr).toMatch(
    /promote: 0\.1\.2 is marked bad \(rolled back .* by Walk Test <walk@test\.invalid>: watch: [^)]*\): make unmark-bad VERSION=0\.1\.2/,
  );
  expect(viaMake.stderr).toContain('event-stack: exit 3 (refused)');

  await rollback({ ...r.ctx, stage: 'qa', reason: 'customers report slow exports', deploy: true, watch: true });
  expect(fs.readFileSync(path.join(r.root, 'Pulumi.qa.yaml'), 'utf8')).toContain(V1.ref);

  const ledger = readLedger(r.root);
  expect(ledger.map((x) => [actionOf(x), x.version, x.to, x.outcome])).toEqual([
    ['promote', '0.1.1', 'qa', 'deployed'],
    ['promote', '0.1.1', 'staging', 'deployed'],
    ['promote', '0.1.1', 'prod', 'deployed'],
    ['promote', '0.1.2', 'qa', 'deployed'],
    ['promote', '0.1.2', 'staging', 'deployed'],
    ['promote', '0.1.2', 'prod', 'rolled-back'],
    ['rollback', '0.1.1', 'prod', 'deployed'],
    ['rollback', '0.1.1', 'qa', 'deployed'],
  ]);
  expect(ledger[6]).toMatchObject({ ref: V1.ref, replaced: V2, markedBad: '0.1.2', reason: expect.stringMatching(/^watch: /) });
  expect(ledger[7]).toMatchObject({ ref: V1.ref, replaced: V2, reason: 'customers report slow exports' });
  // One commit per ledger line, each holding its stack file and the ledger, and nothing left uncommitted.
  expect(r.commits()).toBe(1 + ledger.length);
  expect(r.git('status', '--porcelain')).toBe('');
  expect(r.git('log', '-8', '--format=%s')).toMatch(
    /^Roll back qa from 0\.1\.2 to 0\.1\.1\nRoll back prod from 0\.1\.2 to 0\.1\.1\nPromote 0\.1\.2 staging → prod\n/,
  );
  for (let i = 0; i < ledger.length; i++) {
    expect(r.git('show', '--name-only', '--format=', `HEAD~${i}`).trim().split('\n')).toEqual(
      expect.arrayContaining(['deploy/ledger.jsonl', `Pulumi.${ledger[ledger.length - 1 - i]?.to}.yaml`]),
    );
  }
  expect(r.stub.calls().filter((c) => c[0] === 'up')).toHaveLength(ledger.length);
  expect(r.stub.calls().slice(-2)).toEqual(deployCalls('qa'));

  const statuses = await stageStatuses(r.root, { ...r.env, DEV_IMAGE_REF: V2.ref, DEV_VERSION: V2.version });
  for (const s of statuses.filter((x) => x.stage !== 'dev')) {
    expect([s.stage, s.image?.ref]).toEqual([s.stage, s.last?.ref]);
    expect(s.flags.filter((f) => f.includes('ledger'))).toEqual([]);
  }
}, 120000);

test('when two promotions to one stage start together, then exactly one deploys and the other is refused naming the lock holder', async () => {
  const r = repository();
  r.stub.setOutputs({ imageRef: V1.ref, version: V1.version });
  const run = (user: string) => settle(promote({ ...r.ctx, user, version: V1.version, deploy: true, force: false }));
  const [a, b] = await Promise.all([run('Ann <ann@test.invalid>'), run('Bob <bob@test.invalid>')]);
  expect(a).toBeUndefined();
  expect(b).toBeInstanceOf(LockedError);
  expect(b?.exitCode).toBe(3);
  expect(b?.message).toMatch(
    /^qa is locked by Ann <ann@test\.invalid> \(promote 0\.1\.1 dev → qa, pid \d+ on \S+\) since \d{4}-\d\d-\d\dT[\d:.]+Z: one promotion at a time\. If that process is gone, break the lock: make unlock ENV=qa$/,
  );
  expect(r.stub.calls().filter((c) => c[0] === 'up')).toHaveLength(1);
  expect(readLedger(r.root)).toHaveLength(1);
  expect(execFileSync('git', ['-C', r.root, 'status', '--porcelain'], { encoding: 'utf8' })).toBe('');
});

test('when a stack file has uncommitted changes, then promote and rollback refuse before anything changes', async () => {
  const r = repository();
  fs.appendFileSync(path.join(r.root, 'Pulumi.qa.yaml'), '# local edit\n');
  const p = await settle(promote({ ...r.ctx, version: V1.version, deploy: true, force: false }));
  expect(p?.message).toBe('uncommitted changes in Pulumi.qa.yaml: commit or revert them first (a promotion starts from, and is, a commit)');
  const rb = await settle(rollback({ ...r.ctx, stage: 'qa', reason: 'x', deploy: true, watch: false }));
  expect(rb?.message).toMatch(/^uncommitted changes in Pulumi\.qa\.yaml/);
  expect(r.stub.calls()).toEqual([]);
});

test('when a version marked bad by a rollback is unmarked with a reason, then it may be promoted again, and both steps are recorded', async () => {
  const r = repository();
  r.stub.setOutputs({ imageRef: V1.ref, version: V1.version });
  await promote({ ...r.ctx, version: V1.version, deploy: true, force: false });
  r.stub.setOutputs({ imageRef: V2.ref, version: V2.version });
  await promote({ ...r.ctx, version: V2.version, deploy: true, force: false });
  expect((await settle(rollback({ ...r.ctx, stage: 'qa', reason: ' ', deploy: true, watch: true })))?.message).toMatch(
    /^REASON is required/,
  );
  await rollback({ ...r.ctx, stage: 'qa', reason: 'wrong export format', deploy: true, watch: true });
  expect(await settle(promote({ ...r.ctx, version: V2.version, deploy: true, force: false }))).toBeInstanceOf(BadVersionError);

  unmarkBad({ ...r.ctx, version: V2.version, reason: 'the consumer was at fault' });
  await promote({ ...r.ctx, version: V2.version, deploy: true, force: false });
  expect(readLedger(r.root).map((x) => [actionOf(x), x.version, x.outcome ?? null, x.markedBad ?? null])).toEqual([
    ['promote', '0.1.1', 'deployed', null],
    ['promote', '0.1.2', 'deployed', null],
    ['rollback', '0.1.1', 'deployed', '0.1.2'],
    ['unmark-bad', '0.1.2', null, null],
    ['promote', '0.1.2', 'deployed', null],
  ]);
  expect(r.commits()).toBe(6);
  expect(r.git('status', '--porcelain')).toBe('');
}, 60000);
