/**
 * The in-cluster PostgreSQL's backup as each stack declares it: the CronJob runs the very script
 * app/test/backup.test.ts proves on a real PostgreSQL, with the schedule, retention and volume of the stack file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { OfflineRunError, STACKS, type OfflineRun, type RunOptions } from '../offline';

const ROOT = path.resolve(__dirname, '..', '..');

async function run(stack: string, options?: RunOptions): Promise<OfflineRun> {
  let result: OfflineRun | undefined;
  await jest.isolateModulesAsync(async () => {
    const { runOffline } = require('../offline') as typeof import('../offline');
    result = await runOffline(stack, options);
  });
  return result!;
}
process.setMaxListeners(64);

const runs = new Map<string, OfflineRun>();
beforeAll(async () => {
  for (const stack of STACKS) runs.set(stack, await run(stack));
}, 120_000);
const find = (stack: string, kind: string, name: string) =>
  runs.get(stack)!.kubernetesObjects.find((o) => o.kind === kind && o.metadata.name === name) as any;
const fileSettings = (stack: string) =>
  (parse(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), 'utf8')) as { config: Record<string, any> }).config[
    'event-stack:postgres'
  ];

describe.each(['dev', 'qa', 'staging'])('the %s stack (PostgreSQL in the cluster)', (stack) => {
  test('when the program runs, then a CronJob dumps the database nightly with the backup script, keeping the configured number of dumps on its own volume', () => {
    const backup = fileSettings(stack).backup;
    const cron = find(stack, 'CronJob', 'postgres-backup');
    expect(cron.spec.schedule).toBe(backup.schedule);
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    const pod = cron.spec.jobTemplate.spec.template.spec;
    const [container] = pod.containers;
    expect(container.image).toBe(fileSettings(stack).image); // the server's own pg_dump
    expect(container.command).toEqual(['sh', '/scripts/pg-backup.sh']);
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom.secretKeyRef]));
    expect(env).toMatchObject({
      PGHOST: 'postgres',
      PGPORT: '5432',
      PGUSER: { name: 'postgres-credentials', key: 'POSTGRES_USER' },
      PGPASSWORD: { name: 'postgres-credentials', key: 'POSTGRES_PASSWORD' },
      PGDATABASE: { name: 'postgres-credentials', key: 'POSTGRES_DB' },
      BACKUP_DIR: '/backups',
      BACKUP_KEEP: String(backup.keep),
    });
    const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    const scripts = find(stack, 'ConfigMap', volumes.scripts.configMap.name);
    for (const file of ['pg-backup.sh', 'pg-restore.sh'])
      expect(scripts.data[file]).toBe(fs.readFileSync(path.join(ROOT, 'infra', 'backup', file), 'utf8'));
    const claim = find(stack, 'PersistentVolumeClaim', volumes.backups.persistentVolumeClaim.claimName);
    expect(claim.spec.resources.requests.storage).toBe(backup.storage);
    expect(container.volumeMounts).toEqual(expect.arrayContaining([{ name: 'backups', mountPath: '/backups' }]));
  });

  test('when the backup pods run, then they are not selected by the database Service or StatefulSet', () => {
    const labels = find(stack, 'CronJob', 'postgres-backup').spec.jobTemplate.spec.template.metadata.labels;
    const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    expect(selects(find(stack, 'Service', 'postgres').spec.selector)).toBe(false);
    expect(selects(find(stack, 'StatefulSet', 'postgres').spec.selector.matchLabels)).toBe(false);
  });
});

test('when prod uses its provider-managed database, then no backup CronJob is declared (the provider backs it up: docs/deploy.md)', () => {
  expect(find('prod', 'CronJob', 'postgres-backup')).toBeUndefined();
});

test('when an in-cluster database has no backup settings, then the program names the missing key', async () => {
  const postgres = { ...fileSettings('qa') };
  delete postgres.backup;
  let error: unknown;
  try {
    await run('qa', { set: { 'event-stack:postgres': JSON.stringify(postgres) } });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(Error);
  expect((error as OfflineRunError).message).toContain('event-stack:postgres.backup: required but not set');
});
