/**
 * Least privilege for the migration: nobody logs in as the owner of the tables. The owner is a NOLOGIN role;
 * the migration Job and the maintenance job log in as a migrator that is a member of it and act as it
 * (DATABASE_OWNER_ROLE), so what they create is the owner's, and the service's grants cover it.
 * The migrator is no superuser, like a managed database's admin: the service's role already exists (the
 * harness made it), and re-applying it must not name SUPERUSER, REPLICATION or BYPASSRLS, which PostgreSQL
 * lets only a superuser mention in ALTER ROLE (it failed that way before).
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { runMigrations } from '../src/db/migrate';
import { main as maintenance } from '../src/jobs/maintenance';
import { createSensor, postEvents, startTestService } from './helpers';

async function query<T extends object>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

test('when the migration and the maintenance job log in as a migrator with DATABASE_OWNER_ROLE, then every table is the NOLOGIN owner’s and the service still ingests', async () => {
  const superuser = new URL(process.env.TEST_DATABASE_URL as string);
  const suffix = randomBytes(4).toString('hex');
  const owner = `event_owner_${suffix}`;
  const migrator = `event_migrator_${suffix}`;
  const db = `owned_${suffix}`;
  // What a platform admin sets up once (CloudNativePG's managed roles, or a managed database's admin user).
  await query(superuser.toString(), `CREATE ROLE ${owner} NOLOGIN`);
  await query(superuser.toString(), `CREATE ROLE ${migrator} LOGIN CREATEROLE IN ROLE ${owner}`);
  await query(superuser.toString(), `CREATE DATABASE ${db} OWNER ${owner}`);

  const migratorUrl = new URL(superuser.toString());
  migratorUrl.username = migrator;
  migratorUrl.pathname = `/${db}`;
  const serviceUrl = new URL(process.env.TEST_SERVICE_DATABASE_URL as string);
  serviceUrl.pathname = `/${db}`;
  await runMigrations(migratorUrl.toString(), { quiet: true, ownerRole: owner, serviceUrl: serviceUrl.toString() });

  const owners = await query<{ owner: string }>(
    migratorUrl.toString(),
    `SELECT DISTINCT tableowner AS owner FROM pg_tables WHERE schemaname = 'public'`,
  );
  expect(owners).toEqual([{ owner }]);

  // The maintenance job creates partitions ahead as the owner too; the service may write into them.
  const env = { DATABASE_URL: migratorUrl.toString(), DATABASE_OWNER_ROLE: owner, PUSHGATEWAY_URL: '', LOG_LEVEL: 'silent' };
  expect(await maintenance({ ...env, PARTITIONS_AHEAD_DAYS: '20' })).toBe(0);
  const partitionOwners = await query<{ owner: string }>(
    migratorUrl.toString(),
    `SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'events'::regclass`,
  );
  expect(partitionOwners).toEqual([{ owner }]);

  const [newest] = await query<{ name: string }>(
    migratorUrl.toString(),
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'events'::regclass ORDER BY c.relname DESC LIMIT 1`,
  );
  const [grants] = await query<{ insert: boolean }>(
    migratorUrl.toString(),
    `SELECT has_table_privilege('event_service', $1, 'INSERT') AS insert`,
    [newest?.name],
  );
  expect(grants).toEqual({ insert: true });

  const svc = await startTestService({ DATABASE_URL: serviceUrl.toString() });
  try {
    const sensor = await createSensor(svc.url);
    expect((await postEvents(svc.url, sensor.token, { events: [{ type: 'owned', payload: {} }] })).status).toBe(202);
  } finally {
    await svc.shutdown();
  }
});
