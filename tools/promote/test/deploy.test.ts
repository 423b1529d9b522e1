/**
 * Deploys through one door: `make up`, `make preview` and `make promote` check the state backend,
 * create the stack when missing and always pass the policy pack (a stand-in `pulumi` records the calls).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  DEPLOY_ENV,
  deployCalls,
  gitRepo,
  pathWithout,
  POLICY_PACK,
  pulumiStub,
  ref,
  REPO_ROOT,
  snapshot,
  stackFiles,
  tempDir,
  writeRepo,
} from './fixtures';
import { readLedger } from '../ledger';

let dir: string;
beforeAll(() => {
  dir = tempDir('deploy');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function fixture() {
  const base = fs.mkdtempSync(path.join(dir, 'repo-'));
  const root = path.join(base, 'repo');
  writeRepo(
    root,
    stackFiles({
      qa: { ref: ref('b'), version: '1.1.0' },
      staging: { ref: ref('a'), version: '1.0.0' },
      prod: { ref: ref('9'), version: '0.9.0' },
      prometheusUrl: 'http://127.0.0.1:1',
    }),
  );
  gitRepo(root);
  return { root, stub: pulumiStub(base) };
}

/** `make <target>` as a person runs it; `env` replaces the deploy defaults (undefined removes one). */
function make(root: string, target: string, vars: Record<string, string>, binDir: string, env: Record<string, string | undefined> = {}) {
  const merged: NodeJS.ProcessEnv = { ...process.env, PATH: pathWithout([binDir]), ...DEPLOY_ENV, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete merged[k];
  delete merged.ALLOW_LOCAL_BACKEND;
  if (env.ALLOW_LOCAL_BACKEND) merged.ALLOW_LOCAL_BACKEND = env.ALLOW_LOCAL_BACKEND;
  const run = spawnSync(
    'make',
    ['-s', '-o', 'node_modules/.install-stamp', target, `PROMOTE_ROOT=${root}`, ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)],
    { cwd: REPO_ROOT, encoding: 'utf8', env: merged, timeout: 60000 },
  );
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

test('when `make up` deploys, then it selects (creating if missing) the stack, runs pulumi up with the policy pack, and records the deploy in one commit', () => {
  const { root, stub } = fixture();
  const r = make(root, 'up', { ENV: 'qa', WATCH: '0' }, stub.binDir);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(stub.calls()).toEqual(deployCalls('qa'));
  expect(readLedger(root)).toEqual([
    expect.objectContaining({ action: 'up', version: '1.1.0', ref: ref('b'), to: 'qa', outcome: 'deployed', watch: 'skipped' }),
  ]);
  expect(spawnSync('git', ['-C', root, 'log', '-1', '--format=%s'], { encoding: 'utf8' }).stdout).toBe('Deploy 1.1.0 to qa again\n');
  expect(fs.existsSync(path.join(POLICY_PACK, 'PulumiPolicy.yaml'))).toBe(true);
  expect(r.stdout).toContain('deploy: stack qa, object storage backend s3://event-stack-state/test, policy pack');
});

test('when `make preview` runs, then it previews with the policy pack too', () => {
  const { root, stub } = fixture();
  expect(make(root, 'preview', { ENV: 'staging' }, stub.binDir).status).toBe(0);
  expect(stub.calls()).toEqual([
    ['stack', 'select', '--create', 'staging', '--non-interactive'],
    ['preview', '--stack', 'staging', '--non-interactive', '--diff', '--policy-pack', POLICY_PACK],
  ]);
});

test('when no backend is configured, then dev uses the local default but qa, staging and prod refuse it unless ALLOW_LOCAL_BACKEND=1', () => {
  const { root, stub } = fixture();
  const noBackend = { PULUMI_BACKEND_URL: undefined };
  expect(make(root, 'up', { ENV: 'dev' }, stub.binDir, noBackend).status).toBe(0);
  expect(stub.calls()).toEqual(deployCalls('dev'));
  for (const stage of ['qa', 'staging', 'prod']) {
    const r = make(root, 'up', { ENV: stage }, stub.binDir, noBackend);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(
        `up: stack ${stage} refuses the local backend file:///\\S+/\\.pulumi: state in a folder on one machine cannot be shared or locked by a team\\. Set PULUMI_BACKEND_URL .*ALLOW_LOCAL_BACKEND=1`,
      ),
    );
  }
  expect(stub.calls()).toEqual(deployCalls('dev'));
  expect(make(root, 'up', { ENV: 'prod', WATCH: '0' }, stub.binDir, { ...noBackend, ALLOW_LOCAL_BACKEND: '1' }).status).toBe(0);
  expect(stub.calls().slice(2)).toEqual(deployCalls('prod'));
});

test.each([
  ['not a URL', 'state-bucket/event-stack', /PULUMI_BACKEND_URL "state-bucket\/event-stack" is not a URL: expected s3:\/\/<bucket>/],
  ['a bucket-less object store', 's3:///event-stack', /PULUMI_BACKEND_URL "s3:\/\/\/event-stack" names no bucket or container/],
  ['plain http', 'http://state.example.com', /scheme http: is not a Pulumi backend \(plain http:\/\/ would send tokens in clear\)/],
  ['a relative file path', 'file://state', /PULUMI_BACKEND_URL "file:\/\/state" must name an absolute folder/],
])('when the backend URL is %s, then the deploy is refused with a clear message and pulumi is never called', (_what, url, message) => {
  const { root, stub } = fixture();
  const r = make(root, 'up', { ENV: 'dev' }, stub.binDir, { PULUMI_BACKEND_URL: url });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(message);
  expect(stub.calls()).toEqual([]);
});

test('when `make promote` targets a stage on the local backend, then it refuses before changing any file', () => {
  const { root, stub } = fixture();
  stub.setOutputs({ imageRef: ref('c'), version: '1.2.0' });
  const before = snapshot(root);
  const r = make(root, 'promote', { VERSION: '1.1.0', FORCE: '1' }, stub.binDir, { PULUMI_BACKEND_URL: `file://${dir}/state` });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/stack staging refuses the local backend/);
  expect(snapshot(root)).toEqual(before);
  expect(stub.calls().filter((c) => c[0] === 'up')).toEqual([]);
});

test('when the stack is unknown or the passphrase is missing, then `make up` says so and deploys nothing', () => {
  const { root, stub } = fixture();
  const unknown = make(root, 'up', { ENV: 'uat' }, stub.binDir);
  expect(unknown.status).not.toBe(0);
  expect(unknown.stderr).toContain('up: ENV must be one of: dev qa staging prod (got "uat")');
  const noPassphrase = make(root, 'up', { ENV: 'qa' }, stub.binDir, { PULUMI_CONFIG_PASSPHRASE: undefined });
  expect(noPassphrase.status).not.toBe(0);
  expect(noPassphrase.stderr).toContain(
    "up: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): it encrypts stack qa's secrets",
  );
  expect(stub.calls()).toEqual([]);
});

/** The fixture with qa (and optionally staging) as a fresh repository has them: never promoted. */
function neverPromotedFixture(stages: string[]) {
  const { root, stub } = fixture();
  for (const stage of stages) {
    const file = path.join(root, `Pulumi.${stage}.yaml`);
    const text = fs
      .readFileSync(file, 'utf8')
      .replace(
        /( +)event-stack:image:\n(?:\1 +\S[^\n]*\n)+|( +)event-stack:image: \{[^\n]*\n/,
        (_m, a: string | undefined, b: string | undefined) =>
          `${a ?? b}event-stack:image: never-promoted # make promote pins the first image\n`,
      );
    expect(text).toContain('never-promoted');
    fs.writeFileSync(file, text);
  }
  execFileSync('git', ['-C', root, 'commit', '--quiet', '-am', 'Never promoted'], {
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
  });
  return { root, stub };
}

test('when a stage was never promoted, then `make up` refuses and says to promote first, and `make status` shows "never promoted"', () => {
  const { root, stub } = neverPromotedFixture(['qa']);
  const r = make(root, 'up', { ENV: 'qa' }, stub.binDir);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain(
    'up: stack qa was never promoted, so it has no image to deploy. Promote a version first: make promote VERSION=x.y.z TO=qa',
  );
  expect(stub.calls()).toEqual([]);

  const status = make(root, 'status', {}, stub.binDir, { DEV_IMAGE_REF: ref('c'), DEV_VERSION: '1.2.0' });
  expect(status.status).toBe(0);
  expect(status.stdout).toMatch(/^qa\s+never promoted\s+\(none\)/m);
  // Not TO=qa: a first pin further on would skip a stage, which promote refuses.
  expect(status.stdout).toContain('qa: never promoted: make promote VERSION=x.y.z pins its first image (one stage at a time)');
  expect(status.stdout).toMatch(/^staging\s+1\.0\.0\s+\(none\)/m);
});

test('when `make promote` targets a stage never promoted, then it pins the first image in place, creates the stack and deploys it', () => {
  const { root, stub } = neverPromotedFixture(['qa', 'staging']);
  stub.setOutputs({ imageRef: ref('c'), version: '1.2.0' });
  const before = snapshot(root);
  const r = make(root, 'promote', { VERSION: '1.2.0', FORCE: '1', WATCH: '0' }, stub.binDir);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const after = snapshot(root);
  expect(after['Pulumi.qa.yaml']).toBe(
    (before['Pulumi.qa.yaml'] ?? '').replace(
      'event-stack:image: never-promoted #',
      `event-stack:image: { ref: "${ref('c')}", version: "1.2.0" } #`,
    ),
  );
  expect(after['Pulumi.staging.yaml']).toBe(before['Pulumi.staging.yaml']);
  expect(stub.calls()).toEqual([['stack', 'output', '--json', '--stack', 'dev'], ...deployCalls('qa')]);
  const status = make(root, 'status', {}, stub.binDir);
  expect(status.stdout).toMatch(/^qa\s+1\.2\.0\s+1\.2\.0 promote deployed\s+unknown\s+\d{4}-/m);
  expect(status.stdout).toMatch(/^staging\s+never promoted\s+\(none\)/m);
});

test('when `make outputs` or `make destroy` reads a qa/staging/prod stack, then the same backend rules apply', () => {
  const { root, stub } = fixture();
  const r = make(root, 'outputs', { ENV: 'prod' }, stub.binDir, { PULUMI_BACKEND_URL: undefined });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/backend: stack prod refuses the local backend file:\/\/\/\S+\/\.pulumi/);
  expect(stub.calls()).toEqual([]);
  expect(make(root, 'outputs', { ENV: 'prod' }, stub.binDir).status).toBe(0);
  expect(stub.calls()).toEqual([
    ['stack', 'select', 'prod'],
    ['stack', 'output', '--stack', 'prod'],
  ]);
});
