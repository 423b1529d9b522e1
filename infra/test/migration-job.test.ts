/**
 * Ordering and recovery of the migration, and the two database roles, as each stack declares them
 * (offline: the resource options are read from the engine's registration requests).
 */
import { STACKS, type DeclaredResource, type OfflineRun } from '../offline';

async function run(stack: string): Promise<OfflineRun> {
  let result: OfflineRun | undefined;
  await jest.isolateModulesAsync(async () => {
    const { runOffline } = require('../offline') as typeof import('../offline');
    result = await runOffline(stack);
  });
  return result!;
}

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
    expect(secretsOf('apps/v1:Deployment', 'event-service')).toEqual(['"secretRef":{"name":"event-service-secret"']);
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
