/**
 * The database as each stack declares it (offline; resource options are read from the engine's registration
 * requests): ordering and recovery of the migration, the two roles, and the in-cluster PostgreSQL on CloudNativePG
 * with its continuous archive, base backups, replicas and point-in-time recovery.
 */
import { createHash } from 'node:crypto';
import { postgresSettings } from '../postgres/settings';
import { OfflineRunError, STACKS, stackFileConfig, type DeclaredResource, type OfflineRun } from '../offline';
import { clusterSemanticsProblems, stackFacts } from '../semantics';
import { schemaProblems } from './kubernetes-schema';
import { runIsolated as run } from './offline-run';

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
const appWorkloadOf = (r: OfflineRun) =>
  r.kubernetesObjects.find((o) => ['Deployment', 'Rollout'].includes(o.kind) && o.metadata.name === 'event-service')!;
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
  'when %s runs PostgreSQL in the cluster, then the migration Job waits for its CloudNativePG Cluster',
  (stack) => {
    expect(migrationJob(stack).options.dependsOn).toContain('postgres-cluster');
  },
);

test.each(['dev', 'prod'])(
  "when %s rotates only the service's password, then the pods roll and the migration Job that applies it is a new Job, whose name does not reveal it",
  async (stack) => {
    const rotated = createHash('sha256').update('rotated service password').digest('hex').slice(0, 32);
    const after = await run(stack, { passwords: { 'service-db-password': rotated } });
    const job = after.resources.find((r) => r.type === 'kubernetes:batch/v1:Job') as DeclaredResource & { inputs: any };
    const owner = after.resources.find((r) => r.type === 'kubernetes:core/v1:Secret' && named('event-service-owner-db')(r)) as any;
    // The Job's Secret carries the new password: the migration, and only it, sets it on the service's role.
    expect(new URL(owner.inputs.stringData.SERVICE_DATABASE_URL).password).toBe(rotated);
    expect(new URL(secretData(stack, 'event-service-owner-db').SERVICE_DATABASE_URL).password).not.toBe(rotated);
    const rollOn = (r: OfflineRun) => (appWorkloadOf(r) as any).spec.template.metadata.annotations['checksum/secret'];
    expect(rollOn(after)).not.toBe(rollOn(runs.get(stack)!));
    // Same image: before the fix the name hashed only the image, so the rotation re-ran nothing.
    expect(job.inputs.spec.template.spec.containers[0].image).toBe(migrationJob(stack).inputs.spec.template.spec.containers[0].image);
    expect(job.inputs.metadata.name).not.toBe(migrationJob(stack).inputs.metadata.name);
    expect(job.inputs.metadata.name).toMatch(/^event-service-migrate-[0-9a-f]{10}$/);
    expect(JSON.stringify(job.inputs.metadata)).not.toContain(rotated);
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
  const settings = () => fileSettings(stack);
  const cluster = () => find(stack, 'Cluster', 'postgres');

  test('when the program runs, then its Cluster, ObjectStore and ScheduledBackup validate against the vendored CloudNativePG and Barman Cloud CRDs', () => {
    const cnpg = runs.get(stack)!.kubernetesObjects.filter((o) => o.apiVersion.endsWith('cnpg.io/v1'));
    expect(cnpg.map((o) => o.kind).sort()).toEqual(['Cluster', 'ObjectStore', 'ScheduledBackup']);
    expect(schemaProblems(cnpg)).toEqual([]);
  });

  test('when the program runs, then the Cluster has the instances of the stack, its server settings, and writes go to -rw', () => {
    const spec = cluster().spec;
    expect(spec.instances).toBe(settings().instances);
    expect(spec.imageName).toBe(settings().image);
    expect(spec.postgresql.parameters).toEqual(Object.fromEntries(postgresSettings()));
    const owner = new URL(secretData(stack, 'event-service-owner-db').DATABASE_URL);
    expect(owner.hostname).toBe(`postgres-rw.event-stack-${stack}.svc.cluster.local`);
    // Fewer than 3 instances: a synchronous replica would stop every commit while the one replica is away.
    expect(spec.postgresql.synchronous).toBeUndefined();
  });

  test('when the program runs, then WAL goes to the ObjectStore through the Barman Cloud plugin and base backups follow the schedule', () => {
    const backup = settings().backup;
    const store = find(stack, 'ObjectStore', 'postgres-archive');
    expect(store.spec.retentionPolicy).toBe(backup.retention);
    expect(store.spec.configuration.destinationPath).toBe(backup.objectStore.destinationPath);
    expect(store.spec.configuration.s3Credentials.accessKeyId).toEqual({ name: backup.objectStore.secret, key: 'ACCESS_KEY_ID' });
    expect(cluster().spec.plugins).toEqual([
      {
        name: 'barman-cloud.cloudnative-pg.io',
        isWALArchiver: true,
        parameters: { barmanObjectName: 'postgres-archive', serverName: 'postgres' },
      },
    ]);
    // Not the in-tree barmanObjectStore, deprecated since 1.26.
    expect(cluster().spec.backup).toBeUndefined();
    const scheduled = find(stack, 'ScheduledBackup', 'postgres-nightly');
    expect(scheduled.spec).toMatchObject({ schedule: `0 ${backup.schedule}`, method: 'plugin', cluster: { name: 'postgres' } });
  });

  test('when the program runs, then the database and its archive are protected and retained on delete exactly when the stack says so', () => {
    const keep = settings().retain === true;
    for (const type of ['kubernetes:postgresql.cnpg.io/v1:Cluster', 'kubernetes:barmancloud.cnpg.io/v1:ObjectStore']) {
      const r = runs.get(stack)!.resources.find((x) => x.type === type)!;
      expect({ type, protect: r.options.protect, retainOnDelete: r.options.retainOnDelete }).toEqual({
        type,
        protect: keep,
        retainOnDelete: keep,
      });
    }
    expect(keep).toBe(stack === 'staging');
  });
});

test('when staging reads from replicas, then the READ_DATABASE_URL of the service names the -ro Service with its own role, and the reads of qa stay on the primary', () => {
  const service = secretData('staging', 'event-service-secret');
  const read = new URL(service.READ_DATABASE_URL);
  expect(read.hostname).toBe('postgres-ro.event-stack-staging.svc.cluster.local');
  expect(read.username).toBe(new URL(service.DATABASE_URL).username);
  expect(secretData('qa', 'event-service-secret').READ_DATABASE_URL).toBe('');
});

test('when a stack runs 3 instances, then commits wait for one synchronous replica and the base backup is taken from a standby', async () => {
  const r = await run('staging', { set: { 'event-stack:postgres': JSON.stringify({ ...fileSettings('staging'), instances: 3 }) } });
  const spec = (r.kubernetesObjects.find((o) => o.kind === 'Cluster') as any).spec;
  expect(spec.instances).toBe(3);
  expect(spec.postgresql.synchronous).toEqual({ method: 'any', number: 1 });
  expect((r.kubernetesObjects.find((o) => o.kind === 'ScheduledBackup') as any).spec.target).toBe('prefer-standby');
  expect(schemaProblems(r.kubernetesObjects.filter((o) => o.apiVersion.endsWith('cnpg.io/v1')))).toEqual([]);
  expect(clusterSemanticsProblems(r.kubernetesObjects, stackFacts('staging', r.file.config))).toEqual([]);
});

test('when a stack sets a recovery target, then a new Cluster is bootstrapped from the archive to that time, writes its own WAL apart, and the app moves to it', async () => {
  const targetTime = '2026-12-01T10:30:00Z';
  const r = await run('qa', { set: { 'event-stack:postgres': JSON.stringify({ ...fileSettings('qa'), recovery: { targetTime } }) } });
  const cnpg = r.kubernetesObjects.filter((o) => o.apiVersion.endsWith('cnpg.io/v1'));
  expect(schemaProblems(cnpg)).toEqual([]);
  const spec = (cnpg.find((o) => o.kind === 'Cluster') as any).spec;
  const name = 'postgres-pitr-20261201103000';
  expect(cnpg.find((o) => o.kind === 'Cluster')!.metadata.name).toBe(name);
  expect(spec.bootstrap).toEqual({ recovery: { source: 'origin', recoveryTarget: { targetTime } } });
  expect(spec.externalClusters).toEqual([
    {
      name: 'origin',
      plugin: { name: 'barman-cloud.cloudnative-pg.io', parameters: { barmanObjectName: 'postgres-archive', serverName: 'postgres' } },
    },
  ]);
  // The recovered cluster never archives over the archive it recovers from.
  expect(spec.plugins[0].parameters.serverName).toBe(name);
  const owner = (r.kubernetesObjects.find((o) => o.metadata.name === 'event-service-owner-db') as any).stringData.DATABASE_URL;
  expect(new URL(owner).hostname).toBe(`${name}-rw.event-stack-qa.svc.cluster.local`);
  expect(clusterSemanticsProblems(r.kubernetesObjects, stackFacts('qa', r.file.config))).toEqual([]);
});

test('when prod uses its provider-managed database, then no CloudNativePG object is declared (the provider backs it up: docs/deploy.md)', () => {
  expect(runs.get('prod')!.kubernetesObjects.filter((o) => o.apiVersion.endsWith('cnpg.io/v1'))).toEqual([]);
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

test('when prod names its managed database CA, then the bundle is mounted into the app, the migration, the maintenance job and the exporter, which verify the server against it', async () => {
  const caCertificate = '-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n';
  const r = await run('prod', { set: { 'event-stack:postgres': JSON.stringify({ external: true, caCertificate }) } });
  const get = (kind: string, name: string) => r.kubernetesObjects.find((o) => o.kind === kind && o.metadata.name === name) as any;
  expect(get('ConfigMap', 'postgres-ca').data).toEqual({ 'ca.crt': caCertificate });
  const pods = {
    server: get('Rollout', 'event-service').spec.template.spec, // prod releases by canary
    migration: (r.kubernetesObjects.find((o) => o.kind === 'Job') as any).spec.template.spec,
    maintenance: get('CronJob', 'event-service-maintenance').spec.jobTemplate.spec.template.spec,
    exporter: get('Deployment', 'postgres-exporter').spec.template.spec,
  };
  for (const [what, pod] of Object.entries(pods)) {
    expect({ what, volume: pod.volumes.find((v: any) => v.name === 'postgres-ca')?.configMap.name }).toEqual({
      what,
      volume: 'postgres-ca',
    });
    expect({ what, mount: pod.containers[0].volumeMounts.find((m: any) => m.name === 'postgres-ca')?.mountPath }).toEqual({
      what,
      mount: '/etc/postgres-ca',
    });
  }
  expect(get('ConfigMap', 'event-service-config').data.DATABASE_CA_FILE).toBe('/etc/postgres-ca/ca.crt');
  const dsn = new URL(get('Secret', 'postgres-exporter-connection').stringData.DATA_SOURCE_NAME);
  expect([dsn.searchParams.get('sslmode'), dsn.searchParams.get('sslrootcert')]).toEqual(['verify-full', '/etc/postgres-ca/ca.crt']);
  expect(clusterSemanticsProblems(r.kubernetesObjects, stackFacts('prod', r.file.config))).toEqual([]);
});
