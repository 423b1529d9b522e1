/**
 * The GitHub workflow files, checked offline against the published workflow schema (the schemastore schema
 * that @action-validator/core carries, plus its own checks), and checked to run what .ci/run runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { validateWorkflow } from '@action-validator/core';
import { parse, stringify } from 'yaml';
import { STAGES } from '../../../infra/stages';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const WORKFLOWS = path.join(ROOT, '.github', 'workflows');
const files = fs.readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));
const read = (f: string) => fs.readFileSync(path.join(WORKFLOWS, f), 'utf8');

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, string>;
}
const steps = (f: string): Step[] =>
  Object.values((parse(read(f)) as { jobs: Record<string, { steps: Step[] }> }).jobs).flatMap((job) => job.steps);

test('there is a CI workflow, a manifests-diff workflow and a promote workflow', () => {
  expect(files.sort()).toEqual(['ci.yml', 'manifests.yml', 'promote.yml']);
});

test("when the promote workflow runs, then it waits for the target stage's environment, one run per stage, and keeps the exit code", () => {
  const w = parse(read('promote.yml')) as {
    on: { workflow_dispatch: { inputs: { to: { options: string[] } } } };
    concurrency: { group: string; 'cancel-in-progress': boolean };
    jobs: Record<string, { environment: string }>;
  };
  // dev → qa stays local; every stage after qa goes through approval.
  expect(w.on.workflow_dispatch.inputs.to.options).toEqual(STAGES.slice(STAGES.indexOf('qa') + 1));
  expect(w.concurrency).toEqual({ group: 'promote-${{ inputs.to }}', 'cancel-in-progress': false });
  expect(Object.values(w.jobs).map((j) => j.environment)).toEqual(['${{ inputs.to }}']);
  const run = steps('promote.yml')
    .map((s) => s.run ?? '')
    .join('\n');
  expect(run).toContain('bin/event-stack promote --version "$VERSION" --to "$TO" --watch "$WATCH"');
  expect(run).toContain('make port-forward ENV="$stage"');
  // The source stage comes from the one list too.
  expect(run).toContain('from=$(npx --no-install tsx infra/scripts/stages.ts before "$TO")');
  expect(run).toContain('for stage in "$from" "$TO"; do');
});

test('when make or a workflow needs the stages, then it reads them from infra/stages.ts: make -s stages, and each stage before another', () => {
  const make = spawnSync('make', ['-s', '-o', 'node_modules/.install-stamp', 'stages'], { cwd: ROOT, encoding: 'utf8' });
  expect(make.stdout).toBe(`${STAGES.join(' ')}\n`);
  const before = (stage: string) =>
    spawnSync('npx', ['--no-install', 'tsx', 'infra/scripts/stages.ts', 'before', stage], { cwd: ROOT, encoding: 'utf8' });
  expect(before('prod').stdout).toBe('staging\n');
  expect(before('dev')).toMatchObject({
    status: 2,
    stderr: expect.stringContaining('stages: usage: stages.ts [before <one of qa, staging, prod>]'),
  });
  // Each stage has its stack file, and no stack file is without a stage.
  const stackFiles = fs.readdirSync(ROOT).flatMap((f) => /^Pulumi\.([a-z]+)\.yaml$/.exec(f)?.[1] ?? []);
  expect(stackFiles.sort()).toEqual([...STAGES].sort());
  // Nothing spells the list out again.
  const spelled = /\bdev[ ,|]+qa[ ,|]+staging[ ,|]+prod\b/;
  const places = [
    'Makefile',
    ...fs.readdirSync(path.join(ROOT, 'mk')).map((f) => `mk/${f}`),
    ...files.map((f) => `.github/workflows/${f}`),
  ];
  expect(places.filter((f) => spelled.test(fs.readFileSync(path.join(ROOT, f), 'utf8')))).toEqual([]);
});

test.each(files)('when %s is validated against the workflow schema, then it has no error', (file) => {
  expect(validateWorkflow(read(file)).errors).toEqual([]);
});

test.each([
  ['a job without runs-on', (w: any) => delete w.jobs[Object.keys(w.jobs)[0]!]['runs-on']],
  ['an unknown trigger', (w: any) => (w.on = { pull_requests: {} })],
  ['a step that neither runs nor uses', (w: any) => w.jobs[Object.keys(w.jobs)[0]!].steps.push({ name: 'nothing' })],
  ['a misspelt key', (w: any) => (w.jobs[Object.keys(w.jobs)[0]!]['timeout-minute'] = 5)],
])('when a workflow has %s, then the validator reports it', (_what, spoil) => {
  const workflow = parse(read('ci.yml')) as unknown;
  spoil(workflow);
  expect(validateWorkflow(stringify(workflow)).errors.length).toBeGreaterThan(0);
});

test('when CI runs, then it runs what .ci/run runs: the Node of .nvmrc, scripts/bootstrap and make ci', () => {
  const ciRun = fs
    .readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !/^(set|cd|export|echo|PATH=)/.test(l));
  expect(ciRun).toEqual(['scripts/bootstrap', 'make ci']);
  const ci = steps('ci.yml');
  expect(ci.find((s) => s.uses?.startsWith('actions/setup-node@'))?.with).toMatchObject({ 'node-version-file': '.nvmrc', cache: 'npm' });
  for (const command of ciRun) expect(ci.some((s) => s.run?.includes(command))).toBe(true);
  // The pinned base image is pulled, so the image is built on it rather than on the offline stand-in.
  expect(ci.some((s) => s.run === `docker pull "$(sed -n 's/^ARG BASE_IMAGE=//p' app/Dockerfile)"`)).toBe(true);
  expect(fs.readFileSync(path.join(ROOT, 'app', 'Dockerfile'), 'utf8')).toMatch(/^ARG BASE_IMAGE=node:\S+$/m);
});

test('when a pull request is opened, then the manifests of every stack are rendered for base and head and the diff is commented', () => {
  const text = read('manifests.yml');
  const on = (parse(text) as { on: Record<string, unknown> }).on;
  expect(Object.keys(on)).toEqual(['pull_request']);
  const runs = steps('manifests.yml')
    .map((s) => s.run ?? '')
    .join('\n');
  // The head's stages, for both renders: a stage the base lacks shows as added.
  expect(runs).toContain('stages="$(make -s stages)"');
  expect(runs).toContain('for stage in $stages; do make manifests ENV="$stage"; done');
  expect(runs).toContain('for stage in $STAGES; do make manifests ENV="$stage" || echo "base: stage $stage does not render"; done');
  expect(runs).toContain('git worktree add "$RUNNER_TEMP/base-tree" "$BASE_SHA"');
  expect(runs).toContain('diff -ruN base head');
  expect(runs).toContain('gh pr comment');
});
