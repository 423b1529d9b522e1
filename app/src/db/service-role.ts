/**
 * The service's PostgreSQL role: it may read and write rows of the service's tables, and nothing else
 * (no CREATE, ALTER, DROP or TRUNCATE: it owns no table and gets no CREATE on the schema, which
 * PostgreSQL 15+ no longer grants to PUBLIC). Migrations and the maintenance job run as the owner.
 * Applied by the migration on every run, so a new table, a changed password or a new role is
 * always in place before the service rolls.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { Client } from 'pg';

const ROW_PRIVILEGES = 'SELECT, INSERT, UPDATE, DELETE';
/** The service's role name wherever this repository sets one up (harness, `make local`, the deploy). */
export const SERVICE_ROLE = 'event_service';

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677; ASCII passwords need no
 * SASLprep). Sending the verifier instead of the password keeps the plaintext out of the server's
 * statement logs and pg_stat_activity.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * The attributes that take every right beyond logging in from a role (a role created by hand with more is
 * reduced). PostgreSQL lets only a superuser even mention SUPERUSER, REPLICATION or BYPASSRLS in ALTER ROLE,
 * and a managed database's admin is no superuser: it gets the rest, and a role that holds one of those three
 * is refused with a reason (only a superuser can take them away).
 */
export async function reducedAttributes(client: Client, role: string): Promise<string> {
  const { rows } = await client.query<{ superuser: boolean; rolsuper: boolean; rolreplication: boolean; rolbypassrls: boolean }>(
    `SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser, r.rolsuper, r.rolreplication, r.rolbypassrls
     FROM (SELECT 1) AS one LEFT JOIN pg_roles r ON r.rolname = $1`,
    [role],
  );
  const r = rows[0] as { superuser: boolean; rolsuper: boolean | null; rolreplication: boolean | null; rolbypassrls: boolean | null };
  if (r.superuser) return 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';
  const excess = (['rolsuper', 'rolreplication', 'rolbypassrls'] as const).filter((a) => r[a]);
  if (excess.length) {
    throw new Error(
      `the role ${role} has ${excess.map((a) => a.slice(3).toUpperCase()).join(', ')}, which only a superuser can take away: drop or reduce it first`,
    );
  }
  return 'NOCREATEDB NOCREATEROLE';
}

/**
 * Creates (or updates) the service's role from its connection URL; returns the role name. `ownerRole`: the
 * role that owns the tables when the migration logs in as a member of it (DATABASE_OWNER_ROLE), not as it.
 */
export async function ensureServiceRole(ownerUrl: string, serviceUrl: string, ownerRole = ''): Promise<string> {
  const service = new URL(serviceUrl);
  const role = decodeURIComponent(service.username);
  const password = decodeURIComponent(service.password);
  if (!role)
    throw new Error('SERVICE_DATABASE_URL names no user: the service needs a role of its own (postgres://event_service:…@host/db)');
  const client = new Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ owner: string; db: string }>('SELECT current_user AS owner, current_database() AS db');
    const { owner, db } = rows[0] as { owner: string; db: string };
    if (role === owner || role === ownerRole) {
      throw new Error(`SERVICE_DATABASE_URL connects as ${role}, the owner of the tables: the service must use a role without DDL rights`);
    }
    const id = client.escapeIdentifier(role);
    const login = password ? `LOGIN PASSWORD ${client.escapeLiteral(scramVerifier(password))}` : 'LOGIN';
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    const attributes = `${login} ${await reducedAttributes(client, role)}`;
    try {
      await client.query(exists.rowCount ? `ALTER ROLE ${id} ${attributes}` : `CREATE ROLE ${id} ${attributes}`);
    } catch (err) {
      if ((err as { code?: string }).code !== '42501') throw err;
      throw new Error(
        `${owner} may not ${exists.rowCount ? 'alter' : 'create'} the role ${role} (${(err as Error).message}): the migration's user needs ` +
          `CREATEROLE to manage the service's role (on a managed database, the admin user has it: GRANT it, or run the migration as that user)`,
      );
    }
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
  } finally {
    await client.end();
  }
}
