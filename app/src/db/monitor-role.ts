/**
 * The PostgreSQL exporter's own role: PostgreSQL's predefined `pg_monitor` (every statistics view, the
 * settings, WAL and replication status) and CONNECT, nothing else: it cannot read a row of the service's
 * tables, and it is neither the owner nor the service, so its password can leak without exposing either.
 * Applied by the migration on every run, like the service's role.
 */
import { Client } from 'pg';
import { reducedAttributes, scramVerifier } from './service-role';

/** Creates (or updates) the exporter's role from its connection URL; returns the role name. */
export async function ensureMonitorRole(ownerUrl: string, monitorUrl: string, serviceUrl = '', ownerRole = ''): Promise<string> {
  const monitor = new URL(monitorUrl);
  const role = decodeURIComponent(monitor.username);
  const password = decodeURIComponent(monitor.password);
  if (!role)
    throw new Error('MONITOR_DATABASE_URL names no user: the exporter needs a role of its own (postgres://event_monitor:…@host/db)');
  if (serviceUrl && decodeURIComponent(new URL(serviceUrl).username) === role) {
    throw new Error(`MONITOR_DATABASE_URL connects as ${role}, the service's role: the exporter must use a role that reads no rows`);
  }
  const client = new Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ owner: string; db: string }>('SELECT current_user AS owner, current_database() AS db');
    const { owner, db } = rows[0] as { owner: string; db: string };
    if (role === owner || role === ownerRole) {
      throw new Error(
        `MONITOR_DATABASE_URL connects as ${role}, the owner of the tables: the exporter must use a role with pg_monitor only`,
      );
    }
    const id = client.escapeIdentifier(role);
    const login = password ? `LOGIN PASSWORD ${client.escapeLiteral(scramVerifier(password))}` : 'LOGIN';
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    const attributes = `${login} ${await reducedAttributes(client, role)}`;
    try {
      await client.query(exists.rowCount ? `ALTER ROLE ${id} ${attributes}` : `CREATE ROLE ${id} ${attributes}`);
      await client.query(`GRANT pg_monitor TO ${id}`);
    } catch (err) {
      if ((err as { code?: string }).code !== '42501') throw err;
      throw new Error(
        `${owner} may not set up the exporter's role ${role} (${(err as Error).message}): the migration's user needs CREATEROLE ` +
          `(and, on PostgreSQL 16+, ADMIN OPTION on pg_monitor; on a managed database the admin user has both)`,
      );
    }
    await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(db)} TO ${id}`);
    return role;
  } finally {
    await client.end();
  }
}
