/**
 * Separate PostgreSQL roles: the harness migrates as the owner and gives the service's role
 * (TEST_SERVICE_DATABASE_URL) row access only, exactly as the deploy's migration Job does.
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { runMigrations } from '../src/db/migrate';
import { scramVerifier } from '../src/db/owner-session';
import { createSensor, getJson, postEvents, startTestService } from './helpers';

const ownerUrl = () => process.env.TEST_DATABASE_URL as string;
const serviceUrl = () => process.env.TEST_SERVICE_DATABASE_URL as string;

async function as<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The SQLSTATE of a statement run as `url`, or 'ok'. */
const outcome = (url: string, sql: string) =>
  as(url, (c) =>
    c.query(sql).then(
      () => 'ok',
      (err: { code?: string }) => err.code,
    ),
  );

test("when the service's role tries DDL, then PostgreSQL refuses it: no DROP, ALTER, TRUNCATE or CREATE TABLE", async () => {
  expect(await as(serviceUrl(), async (c) => (await c.query('SELECT current_user AS u')).rows[0].u)).toBe('event_service');
  const insufficientPrivilege = '42501';
  expect(await outcome(serviceUrl(), 'DROP TABLE events')).toBe(insufficientPrivilege);
  expect(await outcome(serviceUrl(), 'DROP TABLE sensors CASCADE')).toBe(insufficientPrivilege);
  expect(await outcome(serviceUrl(), 'ALTER TABLE events ADD COLUMN x int')).toBe(insufficientPrivilege);
  expect(await outcome(serviceUrl(), 'TRUNCATE event_ids')).toBe(insufficientPrivilege);
  expect(await outcome(serviceUrl(), 'CREATE TABLE intruder (x int)')).toBe(insufficientPrivilege);
  expect(await outcome(serviceUrl(), `SELECT ensure_events_partition('2999-01-01')`)).toBe(insufficientPrivilege);
  expect(await outcome(serviceUrl(), `INSERT INTO pgmigrations (name, run_on) VALUES ('fake', now())`)).toBe(insufficientPrivilege);
  // Still there: the refusals above were the role's, not a missing table.
  expect(await outcome(ownerUrl(), 'SELECT 1 FROM events LIMIT 1')).toBe('ok');
});

test('when the service runs as its own role, then it still creates sensors, ingests and reads events', async () => {
  const svc = await startTestService();
  try {
    expect(new URL(svc.config.DATABASE_URL).username).toBe('event_service');
    const sensor = await createSensor(svc.url);
    const events = [1, 2, 3].map((i) => ({
      id: randomUUID(),
      type: 'roles',
      ts: new Date(Date.now() - i * 1000).toISOString(),
      payload: { i },
    }));
    expect((await postEvents(svc.url, sensor.token, { events })).status).toBe(202);
    // One clock reading: two would put since and until more than the hour apart a read with `type` may span.
    const now = Date.now();
    const lastHour = `since=${new Date(now - 3_540_000).toISOString()}&until=${new Date(now + 60_000).toISOString()}`;
    const read = await getJson(`${svc.url}/api/v1/events?type=roles&${lastHour}`, sensor.token);
    expect(read.status).toBe(200);
    expect(read.body.events.map((e: { id: string }) => e.id).sort()).toEqual(events.map((e) => e.id).sort());
    expect((await getJson(`${svc.url}/readyz`)).status).toBe(200);
  } finally {
    await svc.shutdown();
  }
});

test('when the owner creates a table later (a daily partition), then the service may read and write it too', async () => {
  const table = `later_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  await as(ownerUrl(), (c) => c.query(`CREATE TABLE ${table} (x int)`));
  try {
    expect(await outcome(serviceUrl(), `INSERT INTO ${table} VALUES (1)`)).toBe('ok');
    expect(await outcome(serviceUrl(), `DROP TABLE ${table}`)).toBe('42501');
  } finally {
    await as(ownerUrl(), (c) => c.query(`DROP TABLE ${table}`));
  }
});

test("when SERVICE_DATABASE_URL names the tables' owner, then the migration refuses: the service would keep its DDL rights", async () => {
  await expect(runMigrations(ownerUrl(), { quiet: true, serviceUrl: ownerUrl() })).rejects.toThrow(
    'SERVICE_DATABASE_URL connects as postgres, the owner of the tables: the service must use a role without DDL rights',
  );
});

test('the stored password is the SCRAM-SHA-256 verifier PostgreSQL itself computes, never the plaintext', async () => {
  // PostgreSQL hashes a password of its own choosing; the same salt and iterations must give the same verifier.
  const role = `scram_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  const theirs = await as(ownerUrl(), async (c) => {
    await c.query(`SET password_encryption = 'scram-sha-256'`);
    await c.query(`CREATE ROLE ${role} PASSWORD 'pencil'`);
    try {
      return (await c.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role])).rows[0].rolpassword as string;
    } finally {
      await c.query(`DROP ROLE ${role}`);
    }
  });
  const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(theirs) ?? [];
  expect(scramVerifier('pencil', Buffer.from(salt as string, 'base64'), Number(iterations))).toBe(theirs);

  const stored = await as(
    ownerUrl(),
    async (c) => (await c.query(`SELECT rolpassword FROM pg_authid WHERE rolname = 'event_service'`)).rows[0].rolpassword,
  );
  expect(stored).toMatch(/^SCRAM-SHA-256\$4096:/);
  expect(stored).not.toContain(decodeURIComponent(new URL(serviceUrl()).password));
});

test('when the owner may not create roles (a managed database without CREATEROLE), then the migration fails and says what the owner needs', async () => {
  const suffix = randomUUID().replace(/-/g, '').slice(0, 8);
  const owner = `owner_${suffix}`;
  const db = `owned_${suffix}`;
  await as(ownerUrl(), async (c) => {
    await c.query(`CREATE ROLE ${owner} LOGIN NOCREATEROLE`);
    await c.query(`CREATE DATABASE ${db} OWNER ${owner}`);
  });
  const url = (user: string) => Object.assign(new URL(ownerUrl()), { username: user, pathname: `/${db}` }).toString();
  await expect(runMigrations(url(owner), { quiet: true, serviceUrl: url(`svc_${suffix}`) })).rejects.toThrow(
    new RegExp(
      `^${owner} may not create the role svc_${suffix} \\(permission denied to create role\\): the migration's user needs CREATEROLE`,
    ),
  );
});
