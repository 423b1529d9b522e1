/**
 * Promotion rules end to end through the module: real stack files in temp dirs, a real Prometheus
 * with synthetic history behind the gate, and a stand-in `pulumi` on PATH recording its arguments.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PromoteError, RefusedError } from '../errors';
import { readLedger } from '../ledger';
import { promote, PromoteOptions } from '../promote';
import { Image } from '../stack-files';
import {
  DEPLOY_ENV,
  deployCalls,
  DEV_IMAGE as DEV,
  pathWithout,
  PINNED_IMAGES,
  promotionRepo,
  PulumiStub,
  ref,
  SHARED_PROMETHEUS_STAGE,
  snapshot,
  tempDir,
} from './fixtures';
import { prometheusWithHistory } from './prometheus';

type Prom = Awaited<ReturnType<typeof prometheusWithHistory>>;
let healthy: Prom;
let unhealthy: Prom;
const dirs: string[] = [];

beforeAll(async () => {
  const dir = tempDir('prom');
  dirs.push(dir);
  const long = 180;
  [healthy, unhealthy] = await Promise.all([
    prometheusWithHistory(path.join(dir, 'healthy'), {
      instances: [
        { instance: 'a', version: '0.9.0', startedMinutesAgo: long },
        { instance: 'b', version: '1.0.0', startedMinutesAgo: long },
        { instance: 'c', version: '1.1.0', startedMinutesAgo: long },
        { instance: 'd', version: '1.2.0', startedMinutesAgo: long },
        { instance: 'e', version: '1.3.0', startedMinutesAgo: 10 },
      ],
      rps: 10,
      stage: SHARED_PROMETHEUS_STAGE,
      errorShare: () => 0.0001,
    }),
    prometheusWithHistory(path.join(dir, 'unhealthy'), {
      instances: [{ instance: 'd', version: '1.2.0', startedMinutesAgo: long }],
      rps: 10,
      stage: SHARED_PROMETHEUS_STAGE,
      errorShare: () => 0.02,
    }),
  ]);
}, 60000);

afterAll(async () => {
  await Promise.all([healthy?.stop(), unhealthy?.stop()]);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

interface Setup {
  root: string;
  stub: PulumiStub;
  before: Record<string, string>;
  run(o: Partial<PromoteOptions>, env?: NodeJS.ProcessEnv): Promise<{ lines: string[]; error?: PromoteError }>;
}

function setup(
  pinned: Partial<typeof PINNED_IMAGES> = {},
  opts: { dev?: Image; devPrometheus?: string; edit?: (f: Record<string, string>) => void } = {},
): Setup {
  const dir = tempDir('repo');
  dirs.push(dir);
  const { root, stub } = promotionRepo(dir, {
    prometheusUrl: healthy.url,
    pinned,
    dev: opts.dev,
    edit: (files) => {
      if (opts.devPrometheus) files['Pulumi.dev.yaml'] = (files['Pulumi.dev.yaml'] ?? '').replace(healthy.url, opts.devPrometheus);
      opts.edit?.(files);
    },
  });
  const before = snapshot(root);
  return {
    root,
    stub,
    before,
    async run(o, env = {}) {
      const lines: string[] = [];
      try {
        await promote({
          root,
          version: '',
          deploy: true,
          force: false,
          // The watch has tests of its own (watch.test.ts, walk.test.ts).
          watch: false,
          user: 'Test User <test@example.org>',
          env: { PATH: pathWithout([stub.binDir]), ...DEPLOY_ENV, ...env },
          log: (l) => lines.push(l),
          ...o,
        });
        return { lines };
      } catch (err) {
        if (!(err instanceof PromoteError)) throw err;
        return { lines, error: err };
      }
    },
  };
}

const read = (s: Setup, name: string) => fs.readFileSync(path.join(s.root, name), 'utf8');

describe('promote: the ordinary path, one stage at a time', () => {
  test('when dev runs VERSION and its gate passes, then qa pins the same digest, only the two scalars change, the ledger records it and qa is deployed', async () => {
    const s = setup();
    const { lines, error } = await s.run({ version: '1.2.0' });
    expect(error).toBeUndefined();

    const expected = (s.before['Pulumi.qa.yaml'] ?? '')
      .replace(`ref: ${ref('b')} #`, `ref: ${DEV.ref} #`)
      .replace('version: 1.1.0\n', 'version: 1.2.0\n');
    expect(read(s, 'Pulumi.qa.yaml')).toBe(expected);
    expect(read(s, 'Pulumi.qa.yaml')).not.toBe(s.before['Pulumi.qa.yaml']);
    for (const other of ['Pulumi.dev.yaml', 'Pulumi.staging.yaml', 'Pulumi.prod.yaml', 'Pulumi.yaml'])
      expect(read(s, other)).toBe(s.before[other]);

    const [record, ...more] = readLedger(s.root);
    expect(more).toHaveLength(0);
    expect(record).toMatchObject({
      version: '1.2.0',
      ref: DEV.ref,
      digest: `sha256:${'c'.repeat(64)}`,
      from: 'dev',
      to: 'qa',
      user: 'Test User <test@example.org>',
      forced: [],
      deploy: true,
      gate: { stage: 'dev', passed: true, prometheusUrl: healthy.url, reasons: [] },
    });
    expect(Date.now() - Date.parse(record?.time ?? '')).toBeLessThan(60000);
    expect(record?.gate?.errorRatio).toBeCloseTo(0.0001, 5);
    expect(record?.gate?.runningMinutes).toBeGreaterThan(170);

    expect(s.stub.calls()).toEqual([['stack', 'output', '--json', '--stack', 'dev'], ...deployCalls('qa')]);
    expect(lines.join('\n')).toContain('promoted 1.2.0 dev → qa');
  });

  test("when VERSION runs in qa, then it goes to staging in that file's double-quoted style, without asking dev", async () => {
    const s = setup();
    const { error } = await s.run({ version: '1.1.0' });
    expect(error).toBeUndefined();
    const expected = (s.before['Pulumi.staging.yaml'] ?? '')
      .replace(`ref: "${ref('a')}"`, `ref: "${ref('b')}"`)
      .replace('version: "1.0.0"', 'version: "1.1.0"');
    expect(read(s, 'Pulumi.staging.yaml')).toBe(expected);
    expect(read(s, 'Pulumi.qa.yaml')).toBe(s.before['Pulumi.qa.yaml']);
    expect(s.stub.calls()).toEqual(deployCalls('staging'));
    expect(readLedger(s.root)[0]).toMatchObject({ from: 'qa', to: 'staging', ref: ref('b') });
  });

  test("when VERSION runs in staging, then prod's single-quoted flow map takes the digest and keeps its comment", async () => {
    const s = setup();
    const { error } = await s.run({ version: '1.0.0', to: 'prod' });
    expect(error).toBeUndefined();
    expect(read(s, 'Pulumi.prod.yaml')).toBe(
      (s.before['Pulumi.prod.yaml'] ?? '').replace(`'${ref('9')}', version: '0.9.0'`, `'${ref('a')}', version: '1.0.0'`),
    );
  });
});

describe('promote: the whole way, without deploying, and when there is nothing to do', () => {
  test('when a version travels dev → qa → staging → prod, then the digest never changes and the ledger holds three records', async () => {
    const s = setup();
    for (const version of ['1.2.0', '1.2.0', '1.2.0']) expect((await s.run({ version, deploy: false })).error).toBeUndefined();
    for (const f of ['Pulumi.qa.yaml', 'Pulumi.staging.yaml', 'Pulumi.prod.yaml']) expect(read(s, f)).toContain(DEV.ref);
    expect(readLedger(s.root).map((r) => `${r.from}>${r.to} ${r.digest}`)).toEqual([
      `dev>qa sha256:${'c'.repeat(64)}`,
      `qa>staging sha256:${'c'.repeat(64)}`,
      `staging>prod sha256:${'c'.repeat(64)}`,
    ]);
  });

  test('when DEPLOY=0, then the files change but pulumi up is not run', async () => {
    const s = setup();
    const { lines, error } = await s.run({ version: '1.2.0', deploy: false });
    expect(error).toBeUndefined();
    expect(read(s, 'Pulumi.qa.yaml')).toContain(DEV.ref);
    expect(readLedger(s.root)[0]?.deploy).toBe(false);
    expect(s.stub.calls()).toEqual([['stack', 'output', '--json', '--stack', 'dev']]);
    expect(lines.join('\n')).toContain('DEPLOY=0');
  });

  test("when the Pulumi CLI is missing, DEPLOY=0 and DEV_IMAGE_REF name dev's image, then qa is promoted", async () => {
    const s = setup();
    const { error } = await s.run({ version: '1.2.0', deploy: false }, { PATH: pathWithout(), DEV_IMAGE_REF: DEV.ref });
    expect(error).toBeUndefined();
    expect(read(s, 'Pulumi.qa.yaml')).toContain(`ref: ${DEV.ref} #`);
    expect(s.stub.calls()).toEqual([]);
  });

  test('when VERSION already runs in prod, then nothing changes and nothing is deployed', async () => {
    const s = setup();
    const { lines, error } = await s.run({ version: '0.9.0' });
    expect(error).toBeUndefined();
    expect(lines.join('\n')).toContain('already runs in prod');
    expect(snapshot(s.root)).toEqual(s.before);
    expect(s.stub.calls()).toEqual([]);
  });

  test('when TO names a stage that already pins VERSION, then nothing changes', async () => {
    const s = setup();
    const { lines, error } = await s.run({ version: '1.1.0', to: 'qa' });
    expect(error).toBeUndefined();
    expect(lines.join('\n')).toContain('qa already pins 1.1.0');
    expect(snapshot(s.root)).toEqual(s.before);
  });
});

describe('promote: refusals, and FORCE', () => {
  async function expectRefused(s: Setup, o: Partial<PromoteOptions>, text: RegExp) {
    const { error } = await s.run(o);
    expect(error).toBeInstanceOf(RefusedError);
    expect(error?.exitCode).toBe(3);
    expect(error?.message).toMatch(text);
    expect(error?.message).toContain('FORCE=1 overrides');
    expect(snapshot(s.root)).toEqual(s.before);
    expect(s.stub.calls().filter((c) => c[0] === 'up')).toEqual([]);
  }

  test('when TO skips a stage, then it is refused; with FORCE=1 it is done and the override is logged and recorded', async () => {
    const s = setup();
    await expectRefused(s, { version: '1.2.0', to: 'staging' }, /skipping qa: 1\.2\.0 runs up to dev/);
    const { lines, error } = await s.run({ version: '1.2.0', to: 'staging', force: true });
    expect(error).toBeUndefined();
    expect(read(s, 'Pulumi.staging.yaml')).toContain(`ref: "${DEV.ref}"`);
    expect(read(s, 'Pulumi.qa.yaml')).toBe(s.before['Pulumi.qa.yaml']);
    expect(lines).toContain('FORCE=1 overrides: skipping qa: 1.2.0 runs up to dev, so its next stage is qa');
    expect(readLedger(s.root)[0]).toMatchObject({ from: 'dev', to: 'staging', forced: [expect.stringMatching(/^skipping qa/)] });
  });

  test('when VERSION is not running in the stage before TO, then it is refused', async () => {
    const s = setup({
      qa: { ref: ref('8'), version: '0.8.0' },
      staging: { ref: ref('8'), version: '0.8.0' },
      prod: { ref: ref('a'), version: '1.0.0' },
    });
    await expectRefused(
      s,
      { version: '1.0.0', to: 'staging' },
      /1\.0\.0 is not running in qa, the stage before staging \(qa runs 0\.8\.0\)/,
    );
  });

  test('when the target runs a newer version, then the downgrade is refused; FORCE=1 pins it and records why', async () => {
    const s = setup({ qa: { ref: ref('9'), version: '0.9.0' } });
    await expectRefused(s, { version: '0.9.0', to: 'staging' }, /downgrade: staging runs 1\.0\.0, which is newer than 0\.9\.0/);
    expect((await s.run({ version: '0.9.0', to: 'staging', force: true })).error).toBeUndefined();
    expect(readLedger(s.root)[0]?.forced).toEqual(['downgrade: staging runs 1.0.0, which is newer than 0.9.0']);
  });

  test('when the same version is pinned with two digests, then promoting it is refused', async () => {
    const s = setup({ staging: { ref: ref('d'), version: '1.1.0' } });
    await expectRefused(s, { version: '1.1.0', to: 'prod' }, /1\.1\.0 runs with different digests/);
  });

  test("when the source stage's Prometheus shows errors above the limit, then the gate refuses; FORCE=1 promotes and records the failed gate", async () => {
    const s = setup({}, { devPrometheus: unhealthy.url });
    await expectRefused(
      s,
      { version: '1.2.0' },
      /gate: error ratio over 60 min is 2\.0\d\d %, above the limit 0\.100 %[\s\S]*gate: burn rate/,
    );
    const { lines, error } = await s.run({ version: '1.2.0', force: true });
    expect(error).toBeUndefined();
    expect(lines.join('\n')).toMatch(/gate dev .*REFUSED[\s\S]*FORCE=1 overrides: gate: error ratio/);
    const [record] = readLedger(s.root);
    expect(record?.gate?.passed).toBe(false);
    expect(record?.gate?.errorRatio).toBeCloseTo(0.02, 3);
    expect(record?.forced.join('\n')).toMatch(/gate: error ratio[\s\S]*gate: burn rate/);
  });

  test('when VERSION has not soaked long enough in its stage, then the gate refuses', async () => {
    const s = setup({}, { dev: { ref: ref('e'), version: '1.3.0' } });
    await expectRefused(
      s,
      { version: '1.3.0' },
      /gate: soak too short: the newest process of 1\.3\.0 in dev has run for (9|10)\.\d min, 60 min required/,
    );
  });

  test("when the source stage's Prometheus cannot be reached, then the gate refuses", async () => {
    const s = setup({}, { devPrometheus: 'http://127.0.0.1:1' });
    await expectRefused(s, { version: '1.2.0' }, /gate: could not query dev's Prometheus at http:\/\/127\.0\.0\.1:1/);
  });
});

describe('promote: bad input changes nothing', () => {
  const noDigest = (f: Record<string, string>) => {
    f['Pulumi.staging.yaml'] = (f['Pulumi.staging.yaml'] ?? '').replace(`"${ref('a')}"`, '"registry.example/event-service:1.0.0"');
  };
  const noImage = (f: Record<string, string>) => {
    f['Pulumi.prod.yaml'] = (f['Pulumi.prod.yaml'] ?? '').replace(/^ {2}event-stack:image: .*\n/m, '');
  };
  test.each([
    ['VERSION is empty', { version: '' }, {}, /VERSION is required/],
    ['VERSION is malformed', { version: 'banana' }, {}, /VERSION "banana": must be a semantic version/],
    ['VERSION lacks a patch number', { version: '1.2' }, {}, /VERSION "1\.2": must be a semantic version/],
    ['VERSION carries build metadata', { version: '1.2.0+build.5' }, {}, /VERSION "1\.2\.0\+build\.5": must carry no build metadata/],
    ['VERSION has a leading zero', { version: '01.2.0' }, {}, /VERSION "01\.2\.0": must be a semantic version/],
    ['VERSION runs nowhere', { version: '2.0.0' }, {}, /version 2\.0\.0 runs in no stage.*dev runs 1\.2\.0, qa runs 1\.1\.0/],
    [
      'TO is an unknown stage',
      { version: '1.2.0', to: 'uat' },
      {},
      /unknown target stage TO "uat": expected one of dev, qa, staging, prod/,
    ],
    ['TO is dev', { version: '1.2.0', to: 'dev' }, {}, /dev is not a promotion target/],
    [
      'a stage file pins a tag, not a digest',
      { version: '1.2.0' },
      { edit: noDigest },
      /Pulumi\.staging\.yaml is not a valid stack file:\n {2}- event-stack:image\.ref: "registry\.example\/event-service:1\.0\.0" is a tag, not a digest/,
    ],
    [
      'a stage file pins no image',
      { version: '1.2.0' },
      { edit: noImage },
      /Pulumi\.prod\.yaml is not a valid stack file:\n {2}- event-stack:image: required but not set/,
    ],
  ] as const)('when %s, then a clear message, exit code 2 and no file changed', async (_what, o, opts, message) => {
    const s = setup({}, opts);
    const { error } = await s.run(o);
    expect(error).toBeInstanceOf(PromoteError);
    expect(error).not.toBeInstanceOf(RefusedError);
    expect(error?.exitCode).toBe(2);
    expect(error?.message).toMatch(message);
    expect(snapshot(s.root)).toEqual(s.before);
  });

  test('when FORCE=1 is given with bad input, then it is still refused', async () => {
    const s = setup();
    const { error } = await s.run({ version: '2.0.0', force: true });
    expect(error?.exitCode).toBe(2);
    expect(snapshot(s.root)).toEqual(s.before);
  });

  test('when DEV_IMAGE_REF is not digest-pinned, then a clear message and no file changed', async () => {
    const s = setup();
    const { error } = await s.run({ version: '1.2.0', deploy: false }, { PATH: pathWithout(), DEV_IMAGE_REF: 'event-service:latest' });
    expect(error?.message).toMatch(/DEV_IMAGE_REF "event-service:latest" is not a digest-pinned reference/);
    expect(snapshot(s.root)).toEqual(s.before);
  });
});

describe('promote: the Pulumi CLI boundary', () => {
  test('when the CLI is missing and deploying was asked, then it says so before changing anything', async () => {
    const s = setup();
    const { error } = await s.run({ version: '1.2.0' }, { PATH: pathWithout(), DEV_IMAGE_REF: DEV.ref });
    expect(error?.message).toMatch(/the Pulumi CLI \(`pulumi`\) is not on PATH.*DEPLOY=0/);
    expect(snapshot(s.root)).toEqual(s.before);
  });

  test("when the CLI is missing, DEPLOY=0 and no DEV_IMAGE_REF, then it says how to name dev's image", async () => {
    const s = setup();
    const { error } = await s.run({ version: '1.2.0', deploy: false }, { PATH: pathWithout() });
    expect(error?.message).toMatch(/cannot tell what dev runs.*DEV_IMAGE_REF=<repository>@sha256:<64 hex>/);
    expect(snapshot(s.root)).toEqual(s.before);
  });

  test('when the dev stack exports no digest-pinned imageRef, then a clear message and no file changed', async () => {
    const s = setup();
    s.stub.setOutputs({ imageRef: 'event-service:latest', version: '1.2.0' });
    const { error } = await s.run({ version: '1.2.0' });
    expect(error?.message).toMatch(/dev stack's outputs do not name a digest-pinned image/);
    expect(snapshot(s.root)).toEqual(s.before);
  });

  test('when pulumi up fails, then exit code 4, the ledger records the outcome failed in one commit, and the message says how to retry', async () => {
    const s = setup();
    s.stub.setUpExit(1);
    const { error } = await s.run({ version: '1.2.0' });
    expect(error?.exitCode).toBe(4);
    expect(error?.message).toMatch(
      /pulumi up --stack qa --yes --non-interactive --policy-pack \S+` failed \(exit 1\)\. Recorded as failed in deploy\/ledger\.jsonl: .*run `make up ENV=qa`/,
    );
    expect(read(s, 'Pulumi.qa.yaml')).toContain(DEV.ref);
    expect(readLedger(s.root)).toEqual([expect.objectContaining({ action: 'promote', version: '1.2.0', to: 'qa', outcome: 'failed' })]);
    const git = (...args: string[]) => execFileSync('git', ['-C', s.root, ...args], { encoding: 'utf8' });
    expect(git('status', '--porcelain')).toBe('');
    expect(git('show', '--stat', '--format=%s', 'HEAD')).toMatch(
      /^Promote 1\.2\.0 dev → qa\n[\s\S]*Pulumi\.qa\.yaml[\s\S]*deploy\/ledger\.jsonl/,
    );
  });
});
