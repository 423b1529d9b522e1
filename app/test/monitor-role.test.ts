/**
 * The PostgreSQL exporter's own role (least privilege): set up by the migration from MONITOR_DATABASE_URL with
 * pg_monitor only. The real exporter (prometheus-postgres-exporter) scrapes as that role; the role reads no row.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { runMigrations } from '../src/db/migrate';
import { freePort } from '../../tools/stack/process';
import { startPostgresExporter } from '../../tools/stack/services';

function asRole(base: string, role: string, password: string): string {
  const u = new URL(base);
  u.username = role;
  u.password = password;
  return u.toString();
}

async function sqlstate(url: string, sql: string): Promise<string> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  } finally {
    await c.end();
  }
}

test('when the migration runs with MONITOR_DATABASE_URL, then the exporter scrapes as a pg_monitor role that reads no rows', async () => {
  const owner = process.env.TEST_DATABASE_URL as string;
  const role = `event_monitor_${randomBytes(4).toString('hex')}`;
  const monitorUrl = asRole(owner, role, `pw-${randomBytes(16).toString('hex')}`);
  await runMigrations(owner, { quiet: true, serviceUrl: process.env.TEST_SERVICE_DATABASE_URL, monitorUrl });

  const c = new Client({ connectionString: owner });
  await c.connect();
  try {
    const { rows } = await c.query<{ monitor: boolean; superuser: boolean; createrole: boolean }>(
      `SELECT pg_has_role($1, 'pg_monitor', 'MEMBER') AS monitor, rolsuper AS superuser, rolcreaterole AS createrole
       FROM pg_roles WHERE rolname = $1`,
      [role],
    );
    expect(rows).toEqual([{ monitor: true, superuser: false, createrole: false }]);
  } finally {
    await c.end();
  }
  const insufficientPrivilege = '42501';
  expect(await sqlstate(monitorUrl, 'SELECT * FROM events LIMIT 1')).toBe(insufficientPrivilege);
  expect(await sqlstate(monitorUrl, 'SELECT * FROM sensors LIMIT 1')).toBe(insufficientPrivilege);
  expect(await sqlstate(monitorUrl, 'SELECT count(*) FROM pg_stat_activity')).toBe('ok');

  const dir = fs.mkdtempSync(path.join(process.env.TEST_STACK_DIR as string, 'monitor-'));
  const exporter = await startPostgresExporter({ dir, port: await freePort(), databaseUrl: monitorUrl });
  try {
    const metrics = await (await fetch(`${exporter.url}/metrics`)).text();
    expect(metrics).toMatch(/^pg_up 1$/m);
    expect(metrics).toMatch(/^pg_stat_database_xact_commit\{[^}]*datname="events"[^}]*\} \d/m);
  } finally {
    await exporter.stop();
  }
});

test("when MONITOR_DATABASE_URL names the service's role, then the migration refuses: the exporter would read rows", async () => {
  const owner = process.env.TEST_DATABASE_URL as string;
  const service = process.env.TEST_SERVICE_DATABASE_URL as string;
  await expect(runMigrations(owner, { quiet: true, serviceUrl: service, monitorUrl: service })).rejects.toThrow(
    /MONITOR_DATABASE_URL connects as event_service, the service's role/,
  );
});
