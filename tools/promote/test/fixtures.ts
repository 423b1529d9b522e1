/**
 * Throwaway repositories for the promotion tests: stack files in several YAML styles (comments,
 * quoting, flow maps), the version files, and a stand-in `pulumi` executable that records its arguments.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Image } from '../stack-files';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const POLICY_PACK = path.join(REPO_ROOT, 'infra', 'policies');

/** What a deploy needs besides the CLI: a shared state backend and the secrets passphrase. */
export const DEPLOY_ENV = { PULUMI_BACKEND_URL: 's3://event-stack-state/test', PULUMI_CONFIG_PASSPHRASE: 'test-only' };

/** The stand-in's calls of one deploy of `stage` through the one door. */
export function deployCalls(stage: string): string[][] {
  return [
    ['stack', 'select', '--create', stage, '--non-interactive'],
    ['up', '--stack', stage, '--yes', '--non-interactive', '--policy-pack', POLICY_PACK],
  ];
}

/** A digest-pinned reference whose digest is `n` repeated (a, b, c… make digests easy to tell apart). */
export function ref(n: string, repository = 'registry.example/event-service'): string {
  return `${repository}@sha256:${n.repeat(64).slice(0, 64)}`;
}

/** The external label `stage` of the Prometheus the fixtures' stages share. */
export const SHARED_PROMETHEUS_STAGE = 'shared';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `promote-${prefix}-`));
}

export interface FixtureOptions {
  qa: Image;
  staging: Image;
  prod: Image;
  prometheusUrl: string;
  soakMinutes?: number;
  /** The watch after a deploy to each stage; seconds, so the tests do not wait minutes. */
  bakeMinutes?: number;
}

/**
 * The keys of a stack file that promotion does not touch, valid for the stack schema (infra/stack-schema.ts),
 * indented by `indent` (one level of the file's own style).
 */
function settings(stage: string, indent: string): string[] {
  const i = (level: number, line: string) => indent.repeat(level) + line;
  const service = (key: string, image: string, extra: string[] = []) => [
    i(1, `event-stack:${key}:`),
    i(2, `image: ${image}`),
    ...extra.map((l) => i(2, l)),
    i(2, 'resources: {requests: {cpu: 10m, memory: 32Mi}, limits: {cpu: 100m, memory: 64Mi}}'),
  ];
  return [
    i(1, `event-stack:namespace: event-stack-${stage}`),
    // The tests' stages share one Prometheus, so its identity label names none of them.
    i(1, `event-stack:prometheusStage: ${SHARED_PROMETHEUS_STAGE}`),
    i(1, 'event-stack:app:'),
    i(2, 'replicas: 1'),
    i(2, `host: events.${stage}.example.com`),
    i(2, 'tls: {secretName: events-tls}'),
    i(2, 'resources: {requests: {cpu: 50m, memory: 128Mi}, limits: {cpu: 500m, memory: 256Mi}}'),
    i(1, 'event-stack:ingress: {className: nginx, namespace: ingress-nginx}'),
    ...service('postgres', 'ghcr.io/cloudnative-pg/postgresql:16.6', [
      'storage: 1Gi',
      'instances: 1',
      "backup: {schedule: '43 2 * * *', retention: 7d, objectStore: {provider: s3, destinationPath: 's3://backups/test', secret: backup-credentials}}",
    ]),
    ...service('redis', 'redis:7.4.1'),
    ...service('prometheus', 'prom/prometheus:v2.54.1', ['retention: 3d', 'retentionSize: 800MB', 'storage: 1Gi']),
    ...service('kubeStateMetrics', 'registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0'),
    ...service('pushgateway', 'prom/pushgateway:v1.10.0'),
    ...service('postgresExporter', 'quay.io/prometheuscommunity/postgres-exporter:v0.15.0'),
    ...service('redisExporter', 'oliver006/redis_exporter:v1.62.0'),
    ...service('alertmanager', 'prom/alertmanager:v0.27.0'),
    ...service('grafana', 'grafana/grafana:11.3.0'),
    i(1, 'event-stack:egress:'),
    i(2, "kubernetesApi: {cidrs: ['10.0.0.1/32'], port: 443}"),
    i(2, "alertReceivers: {cidrs: ['0.0.0.0/0'], port: 443}"),
    i(2, "objectStore: {cidrs: ['0.0.0.0/0'], port: 443}"),
    i(1, 'event-stack:publicUrls:'),
    i(2, `prometheus: https://prometheus.${stage}.example.com`),
    i(2, `alertmanager: https://alertmanager.${stage}.example.com`),
    i(2, `grafana: https://grafana.${stage}.example.com`),
  ];
}

/** Each stage's file is written in a different style, so byte-for-byte preservation is tested across styles. */
export function stackFiles(o: FixtureOptions): Record<string, string> {
  const soak = o.soakMinutes ?? 60;
  const bake = o.bakeMinutes ?? 0.02;
  return {
    'Pulumi.yaml': 'name: event-stack\nruntime: nodejs\nmain: infra/\n',
    'Pulumi.dev.yaml': [
      '# dev builds its own image; no pinned ref here.',
      'config:',
      '  event-stack:build: {repository: registry.example/event-service}',
      ...settings('dev', '  '),
      `  event-stack:prometheusUrl: ${o.prometheusUrl}`,
      '  event-stack:promotion:',
      `    soakMinutes: ${soak}   # leave dev after an hour`,
      '    maxErrorRatio: 0.001',
      '    maxBurnRate: 1',
      `    bakeMinutes: ${bake}`,
      '',
    ].join('\n'),
    'Pulumi.qa.yaml': [
      '# QA: pinned by `make promote` — do not edit the image by hand.',
      'config:',
      '  event-stack:image:',
      `    ref: ${o.qa.ref} # set by make promote`,
      `    version: ${o.qa.version}`,
      '',
      '  # gate for qa → staging',
      '  event-stack:promotion:',
      `    soakMinutes: ${soak}`,
      '    maxErrorRatio: 0.001',
      '    maxBurnRate: 1',
      `    bakeMinutes: ${bake}`,
      `  event-stack:prometheusUrl: "${o.prometheusUrl}"`,
      '  event-stack:kubeContext: "qa-cluster"',
      ...settings('qa', '  '),
      '',
    ].join('\n'),
    'Pulumi.staging.yaml': [
      'config:',
      "    event-stack:kubeContext: 'staging'",
      '    event-stack:image:',
      `        version: "${o.staging.version}"`,
      `        ref: "${o.staging.ref}"`,
      `    event-stack:promotion: {soakMinutes: ${soak}, maxErrorRatio: 0.002, maxBurnRate: 2, bakeMinutes: ${bake}}`,
      `    event-stack:prometheusUrl: '${o.prometheusUrl}'`,
      ...settings('staging', '    '),
      '# trailing comment',
      '',
    ].join('\n'),
    'Pulumi.prod.yaml': [
      'config:',
      `  event-stack:image: {ref: '${o.prod.ref}', version: '${o.prod.version}'}  # prod`,
      `  event-stack:prometheusUrl: ${o.prometheusUrl}`,
      `  event-stack:promotion: {bakeMinutes: ${bake}}`,
      ...settings('prod', '  '),
      '',
    ].join('\n'),
  };
}

/** What the fixtures' stages pin unless a test says otherwise. */
export const PINNED_IMAGES = {
  qa: { ref: ref('b'), version: '1.1.0' },
  staging: { ref: ref('a'), version: '1.0.0' },
  prod: { ref: ref('9'), version: '0.9.0' },
};

/** What the fixtures' dev stack outputs: the image it built. */
export const DEV_IMAGE: Image = { ref: ref('c'), version: '1.2.0' };

export interface PromotionRepoOptions {
  prometheusUrl: string;
  /** Images pinned instead of PINNED_IMAGES'. */
  pinned?: Partial<typeof PINNED_IMAGES>;
  /** What dev runs instead of DEV_IMAGE. */
  dev?: Image;
  /** Files written besides the stack files, or edits of them. */
  edit?: (files: Record<string, string>) => void;
  /** Promotions are commits: the repository is committed unless a test makes it one itself. */
  git?: boolean;
}

/**
 * A repository of stack files at `<dir>/repo` and, beside it, a stand-in pulumi (not on PATH unless a test puts
 * it there) whose dev stack runs `dev`.
 */
export function promotionRepo(dir: string, o: PromotionRepoOptions): { root: string; stub: PulumiStub } {
  const root = path.join(dir, 'repo');
  const files = stackFiles({ ...PINNED_IMAGES, ...o.pinned, prometheusUrl: o.prometheusUrl });
  o.edit?.(files);
  writeRepo(root, files);
  if (o.git ?? true) gitRepo(root);
  const stub = pulumiStub(dir);
  const dev = o.dev ?? DEV_IMAGE;
  stub.setOutputs({ imageRef: dev.ref, version: dev.version, url: 'http://127.0.0.1:1' });
  return { root, stub };
}

/** The manifests `npm version --workspace app` reads: root and workspace package.json files and the lockfile. */
export function npmWorkspace(): Record<string, string> {
  const files = ['package.json', 'package-lock.json', ...['app', 'dashboards', 'infra', 'monitoring'].map((w) => `${w}/package.json`)];
  return Object.fromEntries(files.map((f) => [f, fs.readFileSync(path.join(REPO_ROOT, f), 'utf8')]));
}

/** A git repository at `root` holding its files in one commit, with an identity of its own (no global git config needed). */
export function gitRepo(root: string): { git: (...args: string[]) => string; env: NodeJS.ProcessEnv } {
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'Release Test',
    GIT_AUTHOR_EMAIL: 'release@test.invalid',
    GIT_COMMITTER_NAME: 'Release Test',
    GIT_COMMITTER_EMAIL: 'release@test.invalid',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
  };
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, env, encoding: 'utf8' });
  git('init', '--quiet', '--initial-branch=main');
  git('add', '--all');
  git('commit', '--quiet', '-m', 'Initial import');
  return { git, env };
}

export function writeRepo(root: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), text);
  }
}

/** Every file under `root` (relative path → content; git's own files aside), to assert that nothing changed. */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory() && entry.name === '.git') continue;
      if (entry.isDirectory()) walk(full);
      else out[path.relative(root, full)] = fs.readFileSync(full, 'utf8');
    }
  };
  walk(root);
  return out;
}

export interface PulumiStub {
  binDir: string;
  /** The argument lists of every call so far. */
  calls(): string[][];
  /** What `pulumi stack output --json --stack dev` prints. */
  setOutputs(outputs: Record<string, unknown>): void;
  /** Exit status of `pulumi up`. */
  setUpExit(code: number): void;
}

/** A stand-in `pulumi` on PATH: records argv (tab-separated, one call a line), prints canned outputs. */
export function pulumiStub(dir: string): PulumiStub {
  const binDir = path.join(dir, 'bin');
  fs.mkdirSync(binDir, { recursive: true });
  const log = path.join(dir, 'pulumi-calls.log');
  const outputs = path.join(dir, 'pulumi-outputs.json');
  const upExit = path.join(dir, 'pulumi-up-exit');
  fs.writeFileSync(log, '');
  fs.writeFileSync(outputs, '{}');
  fs.writeFileSync(upExit, '0');
  fs.writeFileSync(
    path.join(binDir, 'pulumi'),
    [
      '#!/bin/sh',
      `printf '%s\\t' "$@" >> '${log}'; echo >> '${log}'`,
      'case "$1" in',
      `  stack) cat '${outputs}' ;;`,
      `  up|preview) echo "$1 ($3): stand-in pulumi"; exit "$(cat '${upExit}')" ;;`,
      '  *) echo "stand-in pulumi: unexpected command $1" >&2; exit 9 ;;',
      'esac',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return {
    binDir,
    calls: () =>
      fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => line.replace(/\t$/, '').split('\t')),
    setOutputs: (o) => fs.writeFileSync(outputs, JSON.stringify(o)),
    setUpExit: (code) => fs.writeFileSync(upExit, String(code)),
  };
}

/** PATH without any real `pulumi`, plus `extra` directories first. */
export function pathWithout(extra: string[] = []): string {
  const rest = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d && !fs.existsSync(path.join(d, 'pulumi')));
  return [...extra, ...rest].join(path.delimiter);
}
