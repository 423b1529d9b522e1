/**
 * The service's PostgreSQL role: it may read and write rows of the service's tables, and nothing else
 * (no CREATE, ALTER, DROP or TRUNCATE: it owns no table and gets no CREATE on the schema, which
 * PostgreSQL 15+ no longer grants to PUBLIC). Migrations and the maintenance job run as the owner.
 * Applied by the migration on every run, so a new table, a changed password or a new role is
 * always in place before the service rolls.
 */
import { ownerSession, roleOfUrl } from './owner-session';

const ROW_PRIVILEGES = 'SELECT, INSERT, UPDATE, DELETE';
/** The service's role name wherever this repository sets one up (harness, `make local`, the deploy). */
export const SERVICE_ROLE = 'event_service';

/**
 * Creates (or updates) the service's role from its connection URL; returns the role name. `ownerRole`: the
 * role that owns the tables when the migration logs in as a member of it (DATABASE_OWNER_ROLE), not as it.
 */
export async function ensureServiceRole(ownerUrl: string, serviceUrl: string, ownerRole = ''): Promise<string> {
  const { role, password } = roleOfUrl(serviceUrl, 'SERVICE_DATABASE_URL', 'the service', SERVICE_ROLE);
  const ownerRefusal = `SERVICE_DATABASE_URL connects as ${role}, the owner of the tables: the service must use a role without DDL rights`;
  return ownerSession(ownerUrl, ownerRole, role, ownerRefusal, async ({ client, owner, db, id, applyRole }) => {
    await applyRole(
      password,
      [],
      (exists, reason) =>
        `${owner} may not ${exists ? 'alter' : 'create'} the role ${role} (${reason}): the migration's user needs ` +
        `CREATEROLE to manage the service's role (on a managed database, the admin user has it: GRANT it, or run the migration as that user)`,
    );
    await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(db)} TO ${id}`);
    await client.query(`GRANT USAGE ON SCHEMA public TO ${id}`);
    await client.query(`REVOKE CREATE ON SCHEMA public FROM ${id}`);
    await client.query(`GRANT ${ROW_PRIVILEGES} ON ALL TABLES IN SCHEMA public TO ${id}`);
    await client.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${id}`);
    // node-pg-migrate's bookkeeping is the owner's alone: the service must not fake an applied migration.
    await client.query(`REVOKE ALL ON TABLE pgmigrations FROM ${id}`);
    // Tables the owner creates later (the maintenance job's daily partitions) get the same grants.
    const creator = ownerRole ? `FOR ROLE ${client.escapeIdentifier(ownerRole)} ` : '';
    await client.query(`ALTER DEFAULT PRIVILEGES ${creator}IN SCHEMA public GRANT ${ROW_PRIVILEGES} ON TABLES TO ${id}`);
    return role;
  });
}
