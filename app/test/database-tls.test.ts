/**
 * A managed database whose certificate comes from the provider's own CA (issue: RDS and Cloud SQL fail with
 * "self-signed certificate"). Here: a PostgreSQL of our own with ssl=on and a certificate from a CA made
 * with openssl for this run, presenting its chain (server + CA) as providers do.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { main as maintenance } from '../src/jobs/maintenance';
import { freePort } from '../../tools/stack/process';
import { PostgresServer, postgresIdentity } from '../../tools/stack/services';
import { createSensor, postEvents, startTestService } from './helpers';

const ROOT = path.join(__dirname, '..', '..');

let dir: string;
let pg: PostgresServer;
let caFile: string;
let otherCaFile: string;
/** The owner's URL as docs/deploy.md used to advise it: `?sslmode=require`. */
let ownerUrl: string;
let serviceUrl: string;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA (key + self-signed certificate) in `dir`. */
function makeCa(name: string): string {
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
  ]);
  return path.join(dir, `${name}.crt`);
}

function withParams(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/** `make migrate`'s entry point as the migration Job runs it, from source. */
function migrate(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'app', 'src', 'db', 'migrate.ts')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, MIGRATE_WAIT_S: '0', ...env },
    });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(process.env.TEST_STACK_DIR as string, 'tls-'));
  fs.chmodSync(dir, 0o755);
  caFile = makeCa('provider-ca');
  otherCaFile = makeCa('other-ca');
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName = IP:127.0.0.1, DNS:localhost\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr']);
  openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'provider-ca.crt', '-CAkey', 'provider-ca.key', '-CAcreateserial', '-days', '2'].concat([
      '-extfile',
      'san.ext',
      '-out',
      'server.crt',
    ]),
  );
  // The server presents its certificate and the CA's, as managed databases do.
  fs.writeFileSync(path.join(dir, 'chain.crt'), fs.readFileSync(path.join(dir, 'server.crt'), 'utf8') + fs.readFileSync(caFile, 'utf8'));
  const id = postgresIdentity();
  fs.chmodSync(path.join(dir, 'server.key'), 0o600);
  if (id) for (const f of ['server.key', 'chain.crt']) fs.chownSync(path.join(dir, f), id.uid, id.gid);
  pg = new PostgresServer({
    dir: path.join(dir, 'postgres'),
    port: await freePort(),
    fast: true,
    settings: [
      ['ssl', 'on'],
      ['ssl_cert_file', path.join(dir, 'chain.crt')],
      ['ssl_key_file', path.join(dir, 'server.key')],
    ],
  });
  await pg.start();
  ownerUrl = withParams(pg.url, { sslmode: 'require' });
  serviceUrl = withParams(pg.serviceUrl, { sslmode: 'require' });
}, 60000);

afterAll(async () => {
  await pg?.stop();
});

test("when the URL says sslmode=require and the server's certificate comes from a private CA, then pg refuses it as self-signed (the issue)", async () => {
  const client = new Client({ connectionString: ownerUrl });
  await expect(client.connect()).rejects.toThrow(/self-signed certificate/);
});

test('when the migration runs without DATABASE_CA_FILE, then it fails at once, naming the certificate problem and the setting', async () => {
  const run = await migrate({ DATABASE_URL: ownerUrl });
  expect(run.code).toBe(1);
  expect(run.output).toMatch(/PostgreSQL refused the migration: self-signed certificate in certificate chain \(.*set DATABASE_CA_FILE/);
}, 60000);

test("when DATABASE_CA_FILE is another CA's bundle, then the migration still refuses the server: the bundle is verified, not just present", async () => {
  const run = await migrate({ DATABASE_URL: ownerUrl, DATABASE_CA_FILE: otherCaFile });
  expect(run.code).toBe(1);
  expect(run.output).toMatch(/PostgreSQL refused the migration: self-signed certificate in certificate chain/);
}, 60000);

test("when DATABASE_CA_FILE names the provider's CA, then the migration, the service and the maintenance job connect with verified TLS", async () => {
  const run = await migrate({ DATABASE_URL: ownerUrl, SERVICE_DATABASE_URL: serviceUrl, DATABASE_CA_FILE: caFile });
  expect(run.output).toContain('migrations applied');
  expect(run.code).toBe(0);

  const svc = await startTestService({ DATABASE_URL: serviceUrl, DATABASE_CA_FILE: caFile });
  try {
    const sensor = await createSensor(svc.url);
    expect((await postEvents(svc.url, sensor.token, { events: [{ type: 'tls', payload: {} }] })).status).toBe(202);
    // Every connection the service holds is encrypted.
    const admin = new Client({ connectionString: pg.adminUrl });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ ssl: boolean }>(
        `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'event_service'`,
      );
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.ssl)).toBe(true);
    } finally {
      await admin.end();
    }
  } finally {
    await svc.shutdown();
  }

  const code = await maintenance({ DATABASE_URL: ownerUrl, DATABASE_CA_FILE: caFile, PUSHGATEWAY_URL: '', LOG_LEVEL: 'silent' });
  expect(code).toBe(0);
}, 60000);

test('when DATABASE_CA_FILE is set and the URL says sslmode=disable, then the settings are refused as contradictory', async () => {
  const run = await migrate({ DATABASE_URL: withParams(pg.url, { sslmode: 'disable' }), DATABASE_CA_FILE: caFile });
  expect(run.code).toBe(2);
  expect(run.output).toMatch(/^config error: DATABASE_CA_FILE: a CA bundle means verified TLS, but DATABASE_URL says sslmode=disable/m);
}, 60000);

test('when DATABASE_CA_FILE names a missing file, then the migration and the maintenance job fail as misconfigured (exit 2)', async () => {
  const missing = path.join(dir, 'no-such-ca.crt');
  const run = await migrate({ DATABASE_URL: ownerUrl, DATABASE_CA_FILE: missing });
  expect(run.code).toBe(2);
  expect(run.output).toContain(`config error: DATABASE_CA_FILE: cannot read ${missing} (ENOENT)`);
  expect(await maintenance({ DATABASE_URL: ownerUrl, DATABASE_CA_FILE: missing, PUSHGATEWAY_URL: '', LOG_LEVEL: 'silent' })).toBe(2);
}, 60000);
