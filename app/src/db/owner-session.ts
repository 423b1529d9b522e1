/**
 * The owner's session in which the migration sets up a role of its own for another client (the service, the
 * exporter): the role from its connection URL, logging in and nothing more, never the owner itself.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { Client } from 'pg';

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
async function reducedAttributes(client: Client, role: string): Promise<string> {
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

/** The role a client's connection URL logs in as, and its password; `setting` names the URL, `who` its client. */
export function roleOfUrl(url: string, setting: string, who: string, example: string): { role: string; password: string } {
  const u = new URL(url);
  const role = decodeURIComponent(u.username);
  if (!role) throw new Error(`${setting} names no user: ${who} needs a role of its own (postgres://${example}:…@host/db)`);
  return { role, password: decodeURIComponent(u.password) };
}

export interface OwnerSession {
  client: Client;
  /** The user the migration logged in as. */
  owner: string;
  db: string;
  /** The role, quoted as an identifier. */
  id: string;
  /**
   * Creates the role, or brings an existing one back to logging in (with the password's SCRAM verifier) and
   * nothing more, then runs `grants`; a refusal for want of rights (42501) is explained by `whyRefused`.
   */
  applyRole(password: string, grants: string[], whyRefused: (exists: boolean, reason: string) => string): Promise<void>;
}

/**
 * Runs `setUp` connected as the owner (`ownerUrl`) for `role`, after refusing, with `ownerRefusal`, a role that
 * is the owner: the user the migration logs in as, or `ownerRole` when it logs in as a member of it.
 */
export async function ownerSession<T>(
  ownerUrl: string,
  ownerRole: string,
  role: string,
  ownerRefusal: string,
  setUp: (session: OwnerSession) => Promise<T>,
): Promise<T> {
  const client = new Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ owner: string; db: string }>('SELECT current_user AS owner, current_database() AS db');
    const { owner, db } = rows[0] as { owner: string; db: string };
    if (role === owner || role === ownerRole) throw new Error(ownerRefusal);
    const id = client.escapeIdentifier(role);
    const applyRole: OwnerSession['applyRole'] = async (password, grants, whyRefused) => {
      const login = password ? `LOGIN PASSWORD ${client.escapeLiteral(scramVerifier(password))}` : 'LOGIN';
      const exists = Boolean((await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount);
      const attributes = `${login} ${await reducedAttributes(client, role)}`;
      try {
        await client.query(exists ? `ALTER ROLE ${id} ${attributes}` : `CREATE ROLE ${id} ${attributes}`);
        for (const grant of grants) await client.query(grant);
      } catch (err) {
        if ((err as { code?: string }).code !== '42501') throw err;
        throw new Error(whyRefused(exists, (err as Error).message));
      }
    };
    return await setUp({ client, owner, db, id, applyRole });
  } finally {
    await client.end();
  }
}
