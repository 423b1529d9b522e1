/**
 * TLS to a PostgreSQL whose certificate comes from its own CA (a managed database: RDS, Cloud SQL, Azure).
 * The locked `pg` reads `sslmode=require` as verify-full against Node's public CA store, so such a server
 * fails with "self-signed certificate in certificate chain". DATABASE_CA_FILE names the provider's CA bundle;
 * every connection of the service, the migrations (node-pg-migrate too, which reads the same URL) and the
 * maintenance job then verifies the server's certificate and name against that bundle.
 */
import fs from 'node:fs';

/** sslmode values that allow a connection without TLS: contradict a CA bundle. */
export const PLAINTEXT_SSLMODES = ['disable', 'allow', 'prefer'];

/**
 * The connection URL with `sslmode=verify-full&sslrootcert=<caFile>` when a CA bundle is set (pg reads the
 * file on each new connection, so a renewed bundle needs no restart); unchanged when `caFile` is empty.
 */
export function databaseUrl(url: string, caFile: string): string {
  if (!caFile) return url;
  let pem: string;
  try {
    pem = fs.readFileSync(caFile, 'utf8');
  } catch (err) {
    throw new Error(`DATABASE_CA_FILE: cannot read ${caFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error(`DATABASE_CA_FILE: ${caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  const u = new URL(url);
  u.searchParams.set('sslmode', 'verify-full');
  u.searchParams.set('sslrootcert', caFile);
  return u.toString();
}

const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
]);

/** What to do about a TLS verification failure, to append to its message; empty for other errors. */
export function certificateHint(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return '';
  if (UNTRUSTED.has(code)) {
    return " (PostgreSQL's certificate is not signed by a CA this process trusts: set DATABASE_CA_FILE to the database provider's CA bundle)";
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return " (PostgreSQL's certificate does not name the host in the URL: connect by the name the certificate carries)";
  }
  return '';
}
