/**
 * The PostgreSQL exporter's own role: PostgreSQL's predefined `pg_monitor` (every statistics view, the
 * settings, WAL and replication status) and CONNECT, nothing else: it cannot read a row of the service's
 * tables, and it is neither the owner nor the service, so its password can leak without exposing either.
 * Applied by the migration on every run, like the service's role.
 */
import { ownerSession, roleOfUrl } from './owner-session';

/** Creates (or updates) the exporter's role from its connection URL; returns the role name. */
export async function ensureMonitorRole(ownerUrl: string, monitorUrl: string, serviceUrl = '', ownerRole = ''): Promise<string> {
  const { role, password } = roleOfUrl(monitorUrl, 'MONITOR_DATABASE_URL', 'the exporter', 'event_monitor');
  if (serviceUrl && decodeURIComponent(new URL(serviceUrl).username) === role) {
    throw new Error(`MONITOR_DATABASE_URL connects as ${role}, the service's role: the exporter must use a role that reads no rows`);
  }
  const ownerRefusal = `MONITOR_DATABASE_URL connects as ${role}, the owner of the tables: the exporter must use a role with pg_monitor only`;
  return ownerSession(ownerUrl, ownerRole, role, ownerRefusal, async ({ client, owner, db, id, applyRole }) => {
    await applyRole(
      password,
      [`GRANT pg_monitor TO ${id}`],
      (_exists, reason) =>
        `${owner} may not set up the exporter's role ${role} (${reason}): the migration's user needs CREATEROLE ` +
        `(and, on PostgreSQL 16+, ADMIN OPTION on pg_monitor; on a managed database the admin user has both)`,
    );
    await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(db)} TO ${id}`);
    return role;
  });
}
