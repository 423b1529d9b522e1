/**
 * One table of stack files that the Pulumi program (infra/config.ts, under mocks, with the secrets a
 * deployer would have set) and `make promote` (tools/promote/stack-files.ts) must judge alike: both accept,
 * or both refuse with the same problems. Each edit starts from a real stack file of the repository.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import type * as PulumiModule from '@pulumi/pulumi';
import { PromoteError } from '../../tools/promote/errors';
import { readStackFile } from '../../tools/promote/stack-files';
import type * as ConfigModule from '../config';
import { testSecrets } from '../offline';
import { cronProblem, NEVER_PROMOTED, parseStackFile } from '../stack-schema';

const ROOT = path.resolve(__dirname, '..', '..');
const original = (stage: string) => fs.readFileSync(path.join(ROOT, `Pulumi.${stage}.yaml`), 'utf8');

type Edit = (doc: ReturnType<typeof parseDocument>) => void;
const set =
  (keyPath: string[], value: unknown): Edit =>
  (doc) =>
    doc.setIn(['config', ...keyPath], value);
const remove =
  (keyPath: string[]): Edit =>
  (doc) =>
    doc.deleteIn(['config', ...keyPath]);

/** A stage's file with `edits`; a stage never promoted first gets an image as `make promote` would pin it. */
function edited(stage: string, ...edits: Edit[]): string {
  const doc = parseDocument(original(stage));
  if (edits.length && doc.getIn(['config', 'event-stack:image']) === NEVER_PROMOTED)
    doc.setIn(
      ['config', 'event-stack:image'],
      doc.createNode({ ref: `registry.example.com/event-service@sha256:${'c'.repeat(64)}`, version: '1.2.0' }),
    );
  for (const e of edits) e(doc);
  return doc.toString();
}

/** The problems the Pulumi program reports for this stack file ([] when it accepts it), with `secrets` (default: the test secrets). */
async function infraProblems(stage: string, source: string, secrets?: Record<string, string>): Promise<string[]> {
  let problems: string[] = [];
  await jest.isolateModulesAsync(async () => {
    const pulumi = require('@pulumi/pulumi') as typeof PulumiModule;
    await pulumi.runtime.setMocks(
      { newResource: ({ name, inputs }) => ({ id: name, state: inputs }), call: ({ inputs }) => inputs },
      'event-stack',
      stage,
      false,
    );
    const { values, document } = parseStackFile(`Pulumi.${stage}.yaml`, source);
    const given = secrets ?? testSecrets(document.getIn(['config', 'event-stack:postgres', 'external']) === true);
    pulumi.runtime.setAllConfig({ ...values, ...given }, Object.keys(given));
    const { readStackConfig } = require('../config') as typeof ConfigModule;
    try {
      readStackConfig();
    } catch (err) {
      if ((err as Error).name !== 'StackSettingsError') throw err;
      problems = (err as Error & { problems: string[] }).problems;
    }
  });
  return problems;
}

/** The problems `make promote` reports reading this stack file ([] when it accepts it). */
function promoteProblems(stage: 'dev' | 'qa' | 'staging' | 'prod', source: string): string[] {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-schema-'));
  fs.writeFileSync(path.join(root, `Pulumi.${stage}.yaml`), source);
  try {
    readStackFile(root, stage);
    return [];
  } catch (err) {
    if (!(err instanceof PromoteError)) throw err;
    return err.message.split('\n').flatMap((line) => (line.startsWith('  - ') ? [line.slice(4)] : []));
  } finally {
    fs.rmSync(root, { recursive: true });
  }
}

const qaImage = (version: string) => set(['event-stack:image', 'version'], version);
const schedule = (cron: string) => set(['event-stack:app', 'maintenanceSchedule'], cron);
const env = (name: string, value: string) => set(['event-stack:app', 'env', name], value);

const ACCEPTED: [string, 'dev' | 'qa' | 'staging' | 'prod', Edit[]][] = [
  ['the dev stack file as committed', 'dev', []],
  ['the qa stack file as committed', 'qa', []],
  ['the staging stack file as committed', 'staging', []],
  ['the prod stack file as committed (external database)', 'prod', []],
  ['a pre-release version', 'qa', [qaImage('1.3.0-rc.1')]],
  ['no promotion thresholds (the defaults apply)', 'staging', [remove(['event-stack:promotion'])]],
  ['no rollout strategy (rolling applies)', 'prod', [remove(['event-stack:rollout'])]],
  ['a schedule with steps', 'qa', [schedule('*/15 * * * *')]],
  ['a schedule with names and ranges', 'qa', [schedule('30 2 * JAN-JUN MON-FRI')]],
  ['a schedule macro', 'qa', [schedule('@daily')]],
  ['a dedupe window longer than the accepted event age', 'dev', [env('DEDUPE_WINDOW_DAYS', '9')]],
  ['a setting given as a YAML number', 'dev', [set(['event-stack:app', 'env', 'DB_POOL_MAX'], 12)]],
  ['no TLS in qa (optional below staging)', 'qa', [remove(['event-stack:app', 'tls'])]],
  ['TLS from an existing Secret in prod', 'prod', [set(['event-stack:app', 'tls'], { secretName: 'events-tls' })]],
];

const REFUSED: [string, 'dev' | 'qa' | 'staging' | 'prod', Edit[], RegExp][] = [
  ['prod without TLS', 'prod', [remove(['event-stack:app', 'tls'])], /^event-stack:app\.tls: required in prod/],
  [
    'an unknown rollout strategy',
    'staging',
    [set(['event-stack:rollout'], 'blue-green')],
    /^event-stack:rollout: must be canary or rolling/,
  ],
  ['staging without TLS', 'staging', [remove(['event-stack:app', 'tls'])], /^event-stack:app\.tls: required in staging/],
  [
    'both cert-manager issuers',
    'staging',
    [set(['event-stack:app', 'tls', 'issuer'], 'local-ca')],
    /^event-stack:app\.tls: set clusterIssuer or issuer, not both$/,
  ],
  [
    'a TLS setting without secretName',
    'prod',
    [set(['event-stack:app', 'tls'], { clusterIssuer: 'letsencrypt-prod' })],
    /^event-stack:app\.tls\.secretName: required but not set$/,
  ],
  [
    'a TLS setting with an unknown key',
    'prod',
    [set(['event-stack:app', 'tls', 'secret'], 'events-tls')],
    /^event-stack:app\.tls: unknown key secret$/,
  ],
  [
    'a topology spread that is neither hard nor soft',
    'prod',
    [set(['event-stack:app', 'topologySpread'], 'strict')],
    /^event-stack:app\.topologySpread: must be hard or soft/,
  ],
  [
    'a version with build metadata',
    'qa',
    [qaImage('1.2.3+build.5')],
    /^event-stack:image\.version: must carry no build metadata \(\+build\.5\)/,
  ],
  [
    'a version with a leading zero',
    'qa',
    [qaImage('01.2.3')],
    /^event-stack:image\.version: must be a semantic version .* \(got "01\.2\.3"\)$/,
  ],
  ['a version with a "v"', 'qa', [qaImage('v1.2.3')], /^event-stack:image\.version: must be a semantic version/],
  ['a version without patch number', 'qa', [qaImage('1.2')], /^event-stack:image\.version: must be a semantic version/],
  [
    'an image pinned by tag',
    'staging',
    [set(['event-stack:image', 'ref'], 'registry.example.com/event-service:1.0.0')],
    /^event-stack:image\.ref: ".*:1\.0\.0" is a tag, not a digest/,
  ],
  [
    'a minute out of range',
    'qa',
    [schedule('99 3 * * *')],
    /^event-stack:app\.maintenanceSchedule: "99 3 \* \* \*": minute "99" is not within 0-59$/,
  ],
  ['an hour out of range', 'qa', [schedule('17 25 * * *')], /hour "25" is not within 0-23/],
  ['a month out of range', 'qa', [schedule('0 0 1 13 *')], /month "13" is not within 1-12/],
  ['a day of week out of range', 'qa', [schedule('0 0 * * 8')], /day of week "8" is not within 0-7/],
  ['four fields', 'qa', [schedule('17 3 * *')], /has 4 fields: a schedule has five/],
  ['five words', 'qa', [schedule('every day at three am')], /minute "every" is not within 0-59/],
  ['a backwards range', 'qa', [schedule('50-10 * * * *')], /minute range "50-10" runs backwards/],
  ['a zero step', 'qa', [schedule('*/0 * * * *')], /a step is \/N with N ≥ 1/],
  [
    'a contradictory dedupe window',
    'dev',
    [env('DEDUPE_WINDOW_DAYS', '7')],
    /^event-stack:app\.env\.DEDUPE_WINDOW_DAYS: must cover more than EVENT_MAX_AGE_S \(604800 s\)/,
  ],
  [
    'more concurrent flushes than pool connections',
    'dev',
    [env('INGEST_MAX_CONCURRENT_FLUSHES', '10')],
    /^event-stack:app\.env\.INGEST_MAX_CONCURRENT_FLUSHES: must be below DB_POOL_MAX/,
  ],
  ['an invalid setting value', 'dev', [env('LOG_LEVEL', 'loud')], /^event-stack:app\.env\.LOG_LEVEL: /],
  ['a secret setting in env', 'dev', [env('ADMIN_TOKEN', 'x'.repeat(40))], /^event-stack:app\.env\.ADMIN_TOKEN: is a secret/],
  [
    'an unknown setting in env',
    'dev',
    [env('NOT_A_SETTING', '1')],
    /^event-stack:app\.env\.NOT_A_SETTING: is not a setting of app\/src\/config\.ts$/,
  ],
  [
    'an unknown top-level key',
    'qa',
    [set(['event-stack:replica'], 2)],
    /^config: unknown key event-stack:replica \(known keys: namespace, /,
  ],
  ['an unknown key in a map', 'qa', [set(['event-stack:app', 'replica'], 2)], /^event-stack:app: unknown key replica$/],
  [
    'an error ratio above 1',
    'qa',
    [set(['event-stack:promotion', 'maxErrorRatio'], 2)],
    /^event-stack:promotion\.maxErrorRatio: must be a number in \[0, 1\]/,
  ],
  [
    'a soak time given as text',
    'qa',
    [set(['event-stack:promotion', 'soakMinutes'], '30')],
    /^event-stack:promotion\.soakMinutes: must be an integer ≥ 0 \(got "30"\)$/,
  ],
  [
    'a watch that would roll back before any poll showed a breach',
    'qa',
    [set(['event-stack:promotion', 'breachPolls'], 0)],
    /^event-stack:promotion\.breachPolls: must be an integer ≥ 1/,
  ],
  [
    'both a pinned image and a build',
    'qa',
    [set(['event-stack:build'], { repository: 'registry.example.com/x' })],
    /set only one of event-stack:image and event-stack:build/,
  ],
  [
    'neither a pinned image nor a build',
    'qa',
    [remove(['event-stack:image'])],
    /^event-stack:image: required but not set \(qa\/staging\/prod pin/,
  ],
  [
    'an upper-case namespace',
    'qa',
    [set(['event-stack:namespace'], 'Event_Stack')],
    /^event-stack:namespace: must be a DNS label .* \(got "Event_Stack"\)$/,
  ],
  [
    'a third-party image on latest',
    'qa',
    [set(['event-stack:grafana', 'image'], 'grafana/grafana:latest')],
    /^event-stack:grafana\.image: "grafana\/grafana:latest" uses "latest"/,
  ],
  [
    'a bad image inside the Postgres map',
    'qa',
    [set(['event-stack:postgres', 'image'], 'postgres')],
    /^event-stack:postgres\.image: "postgres" has no tag/,
  ],
  [
    'a list where a map belongs',
    'qa',
    [set(['event-stack:ingress'], ['nginx'])],
    /^event-stack:ingress: must be a map \{className, namespace\}$/,
  ],
  ['no Prometheus URL', 'qa', [remove(['event-stack:prometheusUrl'])], /^event-stack:prometheusUrl: required but not set$/],
  [
    'a Prometheus retention size as large as its volume',
    'prod',
    [set(['event-stack:prometheus', 'retentionSize'], '50GB')],
    /^event-stack:prometheus\.retentionSize: retentionSize must be below storage: the WAL, head chunks and compaction need room beside the blocks$/,
  ],
  [
    'a Prometheus retention size in Kubernetes units',
    'qa',
    [set(['event-stack:prometheus', 'retentionSize'], '8Gi')],
    /^event-stack:prometheus\.retentionSize: must be a size in Prometheus units such as 40GB/,
  ],
  [
    'bundled monitoring without kube-state-metrics',
    'staging',
    [remove(['event-stack:kubeStateMetrics'])],
    /^event-stack:kubeStateMetrics: required but not set$/,
  ],
  [
    'a misspelt never-promoted',
    'qa',
    [set(['event-stack:image'], 'not promoted yet')],
    /^event-stack:image: must be a map \{ref, version\}, or never-promoted until the first promotion/,
  ],
  [
    'an in-cluster database without backup settings',
    'qa',
    [remove(['event-stack:postgres', 'backup'])],
    /^event-stack:postgres\.backup: required but not set$/,
  ],
  [
    'backups kept for no time',
    'staging',
    [set(['event-stack:postgres', 'backup', 'retention'], '0d')],
    /^event-stack:postgres\.backup\.retention: must be a retention such as 7d/,
  ],
  [
    'reads from replicas with a single instance',
    'qa',
    [set(['event-stack:postgres', 'readsFromReplicas'], true)],
    /^event-stack:postgres\.readsFromReplicas: readsFromReplicas needs instances ≥ 2/,
  ],
  [
    'an archive path of another provider',
    'qa',
    [set(['event-stack:postgres', 'backup', 'objectStore', 'destinationPath'], 'gs://bucket/qa')],
    /^event-stack:postgres\.backup\.objectStore\.destinationPath: destinationPath must match the provider/,
  ],
];

describe('the Pulumi program and make promote judge every stack file alike', () => {
  test.each(ACCEPTED)('when a stack file has %s, then both accept it', async (_what, stage, edits) => {
    const source = edited(stage, ...edits);
    expect(await infraProblems(stage, source)).toEqual([]);
    expect(promoteProblems(stage, source)).toEqual([]);
  });

  test.each(REFUSED)('when a stack file has %s, then both refuse it with the same message', async (_what, stage, edits, message) => {
    const source = edited(stage, ...edits);
    const infra = await infraProblems(stage, source);
    expect(infra).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
    expect(promoteProblems(stage, source)).toEqual(infra);
    // Human messages: no pattern source leaks out.
    for (const line of infra) expect(line).not.toMatch(/\/\^|\$\/|\\d/);
  });
});

describe('a malformed setting is reported once, with its key', () => {
  // Pulumi hands maps to the program as JSON: a value that opens a map but is not one cannot be decoded.
  const malformed = edited('qa', set(['event-stack:app'], '{replicas: 1'), set(['event-stack:redis'], '{image: redis:7.4.1, resources:'));

  test('when two settings are not valid maps, then each is reported exactly once and nothing is reported missing', async () => {
    const expected = ['event-stack:app: is not valid YAML/JSON', 'event-stack:redis: is not valid YAML/JSON'];
    expect(await infraProblems('qa', malformed)).toEqual(expected);
    expect(promoteProblems('qa', malformed)).toEqual(expected);
  });

  test('when a secret is not a valid map, then it is reported exactly once, and not as missing', async () => {
    expect(await infraProblems('qa', edited('qa'), { 'event-stack:alertReceivers': '{"pager": ' })).toEqual([
      'event-stack:alertReceivers: is not valid YAML/JSON',
    ]);
  });

  test('when a secret is invalid, then the problem names its key but never shows its value', async () => {
    const problems = await infraProblems('prod', edited('prod'), {
      ...testSecrets(true),
      'event-stack:databaseUrl': 'mysql://events:hunter2@db',
    });
    expect(problems).toEqual(['event-stack:databaseUrl: must be a postgres:// URL']);
  });

  test('when the database is external and the egress setting has no database addresses, then they are reported missing', async () => {
    const problems = await infraProblems('qa', edited('qa', set(['event-stack:postgres'], { external: true })), testSecrets(true));
    expect(problems).toEqual([
      "event-stack:egress.database: required when postgres.external is true (the managed database's CIDRs and port)",
    ]);
  });

  test('when the database is external and its secret is not set, then that secret is reported missing once', async () => {
    const problems = await infraProblems(
      'qa',
      edited(
        'qa',
        set(['event-stack:postgres'], { external: true }),
        set(['event-stack:egress', 'database'], { cidrs: ['10.0.64.0/24'], port: 5432 }),
      ),
      testSecrets(false),
    );
    expect(problems).toEqual([
      'event-stack:databaseUrl: required secret when event-stack:postgres.external is true, not set (pulumi config set --secret databaseUrl postgres://…)',
    ]);
  });
});

test.each([
  ['17 3 * * *', undefined],
  ['0 0 29 2 *', undefined],
  ['0 12 * * 7', undefined],
  ['0-59/5 0-23 1-31 1-12 0-7', undefined],
  ['0 0 ? * SUN', undefined],
  ['0 0 * * MON,WED,FRI', undefined],
  ['60 * * * *', 'minute "60" is not within 0-59'],
  ['0 0 0 * *', 'day of month "0" is not within 1-31'],
  ['0 0 32 * *', 'day of month "32" is not within 1-31'],
  ['? * * * *', 'minute "?" is not within 0-59'],
  ['0 0 * * * *', 'has 6 fields'],
  ['TZ=UTC 0 0 * * *', 'Kubernetes refuses TZ='],
  ['1/2/3 * * * *', 'a step is /N with N ≥ 1'],
])('when the schedule is "%s", then cron validation says %s', (cron, problem) => {
  if (problem === undefined) expect(cronProblem(cron)).toBeUndefined();
  else expect(cronProblem(cron)).toContain(problem);
});
