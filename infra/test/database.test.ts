/**
 * The database as each stack declares it (offline; resource options are read from the engine's registration
 * requests): ordering and recovery of the migration, the two roles, and the in-cluster PostgreSQL's backup,
 * whose CronJob runs the very script app/test/backup.test.ts proves on a real PostgreSQL.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { postgresSettings } from '../postgres/settings';
import { OfflineRunError, STACKS, stackFileConfig, type DeclaredResource, type OfflineRun } from '../offline';
import { runIsolated as run } from './offline-run';

const ROOT = path.resolve(__dirname, '..', '..');

process.setMaxListeners(64);
const runs = new Map<string, OfflineRun>();
beforeAll(async () => {
  for (const stack of STACKS) runs.set(stack, await run(stack));
}, 120_000);

const resource = (stack: string, type: string, test: (r: DeclaredResource) => boolean) => {
  const found = runs.get(stack)!.resources.find((r) => r.type === type && test(r));
  if (!found) throw new Error(`${stack} declares no ${type} matching`);
  return found as DeclaredResource & { inputs: any };
};
const named = (name: string) => (r: DeclaredResource) => (r.inputs as { metadata?: { name?: string } }).metadata?.name === name;
const migrationJob = (stack: string) =>
  resource(stack, 'kubernetes:batch/v1:Job', (r) => (r.inputs as any).metadata?.labels?.['app.kubernetes.io/component'] === 'migrate');
const secretData = (stack: string, name: string) => resource(stack, 'kubernetes:core/v1:Secret', named(name)).inputs.stringData;
const durationSeconds = (d: string) => Number(/^(\d+)m$/.exec(d)?.[1]) * 60;

describe.each(STACKS)('the %s stack', (stack) => {
  test('when a migration Job failed, then the next `pulumi up` replaces it (replaceUnready), deleting the old one first since the name stays', () => {
    const job = migrationJob(stack);
    expect(job.inputs.metadata.annotations['pulumi.com/replaceUnready']).toBe('true');
    // Same image, same name: creating the replacement before deleting the failed Job would collide.
    expect(job.options.deleteBeforeReplace).toBe(true);
    // Pulumi waits longer than the Job may run, so a stuck migration ends as the Job's own failure, not a Pulumi timeout.
    expect(durationSeconds(job.options.customTimeouts.create ?? '')).toBeGreaterThan(job.inputs.spec.activeDeadlineSeconds);
    expect(durationSeconds(job.options.customTimeouts.update ?? '')).toBeGreaterThan(job.inputs.spec.activeDeadlineSeconds);
    // Its own wait for the database fits inside the Job's deadline.
    const waitS = Number(resource(stack, 'kubernetes:core/v1:ConfigMap', named('event-service-config')).inputs.data.MIGRATE_WAIT_S);
    expect(waitS).toBeGreaterThan(0);
    expect(waitS).toBeLessThan(job.inputs.spec.activeDeadlineSeconds);
  });

  test('when the service and the jobs connect, then the service uses its own role and only the jobs get the owner', () => {
    const service = secretData(stack, 'event-service-secret');
    const owner = secretData(stack, 'event-service-owner-db');
    expect(new URL(service.DATABASE_URL).username).toBe('event_service');
    expect(new URL(owner.DATABASE_URL).username).not.toBe('event_service');
    expect(owner.SERVICE_DATABASE_URL).toBe(service.DATABASE_URL);
    expect(service.DATABASE_URL).not.toContain(new URL(owner.DATABASE_URL).password);
    // Same server, database and parameters (sslmode in prod) for both.
    const strip = (u: string) => Object.assign(new URL(u), { username: '', password: '' }).toString();
    expect(strip(service.DATABASE_URL)).toBe(strip(owner.DATABASE_URL));

    const secretsOf = (kind: string, name: string) =>
      JSON.stringify(resource(stack, `kubernetes:${kind}`, named(name)).inputs).match(/"secretRef":\{"name":"[^"]+"/g);
    // The service's workload: a Rollout where the stage releases by canary.
    const workload = runs.get(stack)!.file.config.rollout === 'canary' ? 'argoproj.io/v1alpha1:Rollout' : 'apps/v1:Deployment';
    expect(secretsOf(workload, 'event-service')).toEqual(['"secretRef":{"name":"event-service-secret"']);
    expect(secretsOf('batch/v1:CronJob', 'event-service-maintenance')).toEqual(['"secretRef":{"name":"event-service-owner-db"']);
    expect(JSON.stringify(migrationJob(stack).inputs)).toContain('"secretRef":{"name":"event-service-owner-db"');
    expect(JSON.stringify(migrationJob(stack).inputs)).not.toContain('event-service-secret');
  });
});

test.each(STACKS.filter((s) => s !== 'prod'))(
  'when %s runs PostgreSQL in the cluster, then the migration Job waits for its StatefulSet to be ready',
  (stack) => {
    expect(migrationJob(stack).options.dependsOn).toContain('postgres-statefulset');
  },
);

test('when prod uses an external database, then its migration Job depends on no in-cluster PostgreSQL and relies on its own wait', () => {
  expect(migrationJob('prod').options.dependsOn.filter((d) => d.startsWith('postgres'))).toEqual([]);
  expect(new URL(secretData('prod', 'event-service-secret').DATABASE_URL).searchParams.get('sslmode')).toBe('require');
});

const find = (stack: string, kind: string, name: string) =>
  runs.get(stack)!.kubernetesObjects.find((o) => o.kind === kind && o.metadata.name === name) as any;
/** `event-stack:postgres` as the stack file writes it (Pulumi's form), so a test can edit and set it. */
const fileSettings = (stack: string) => JSON.parse(stackFileConfig(stack)['event-stack:postgres']!);

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

  test('when the program runs, then the PostgreSQL container gets every setting of infra/postgres/postgresql.conf as `-c name=value`', () => {
    const [container] = find(stack, 'StatefulSet', 'postgres').spec.template.spec.containers;
    const expected = postgresSettings().flatMap(([name, value]) => ['-c', `${name}=${value}`]);
    expect(expected).toContain('backend_flush_after=256kB');
    expect(container.args).toEqual(expected);
    // The image's entrypoint hands arguments that start with a dash to `postgres`.
    expect(container.command).toBeUndefined();
    expect(container.args[0]).toBe('-c');
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
