/**
 * The real services of the stack, each started on 127.0.0.1 with its data under a directory the
 * caller chooses (a temp dir for tests, `.local/` for `make local`).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { SERVICE_ROLE } from '../../app/src/db/service-role';
import { postgresArgs } from '../../infra/postgres/settings';
import { Running, findExecutable, httpOk, portOpen, requireExecutable, startAndAwait } from './process';

/** Directories of the installed PostgreSQL versions' programs, newest first (Debian keeps them off PATH). */
export const PG_BIN_DIRS = (() => {
  try {
    return fs
      .readdirSync('/usr/lib/postgresql')
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => `/usr/lib/postgresql/${v}/bin`);
  } catch {
    return [];
  }
})();

/** uid/gid to run Postgres (and the tools that read its data directory) as: it refuses to run as root. */
export function postgresIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root, but there is no `postgres` user to run PostgreSQL as (apt-get install postgresql creates it)');
  }
}

export interface PostgresOptions {
  dir: string;
  port: number;
  database?: string;
  /** Throwaway clusters may trade durability for speed; `make local` keeps the defaults. */
  fast?: boolean;
  /** Settings over infra/postgres/postgresql.conf's, for experiments (bench/postgres-settings.ts); later pairs win. */
  settings?: Array<[string, string]>;
  /** Password in `serviceUrl` (the cluster trusts loopback, so it is never checked; tests set one to prove it is never logged). */
  servicePassword?: string;
  /** Environment of the server, and so of its archive_command and restore_command (object store credentials). */
  env?: NodeJS.ProcessEnv;
}

/** Signals a process that may have exited meanwhile (a backend ending between listing and signalling). */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** A PostgreSQL cluster of our own that can be stopped and started again on the same port. */
export class PostgresServer {
  /** The owner's connection: migrations, maintenance, test assertions. */
  readonly url: string;
  /** The service's connection as SERVICE_ROLE: rows only, no DDL (once the migration ran with it). */
  readonly serviceUrl: string;
  readonly adminUrl: string;
  private proc?: Running;
  private readonly dataDir: string;
  private readonly logFile: string;
  private readonly identity = postgresIdentity();
  private paused = false;

  constructor(private readonly opts: PostgresOptions) {
    this.dataDir = path.join(opts.dir, 'data');
    this.logFile = path.join(opts.dir, 'postgres.log');
    const db = opts.database ?? 'events';
    this.url = `postgres://postgres@127.0.0.1:${opts.port}/${db}`;
    const password = opts.servicePassword ? `:${encodeURIComponent(opts.servicePassword)}` : '';
    this.serviceUrl = `postgres://${SERVICE_ROLE}${password}@127.0.0.1:${opts.port}/${db}`;
    this.adminUrl = `postgres://postgres@127.0.0.1:${opts.port}/postgres`;
  }

  private ensureCluster(): void {
    fs.mkdirSync(this.opts.dir, { recursive: true });
    if (this.identity) fs.chownSync(this.opts.dir, this.identity.uid, this.identity.gid);
    if (fs.existsSync(path.join(this.dataDir, 'PG_VERSION'))) return;
    const initdb = requireExecutable(['initdb'], 'postgresql', PG_BIN_DIRS);
    execFileSync(initdb, ['-D', this.dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-instructions'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(this.identity ?? {}),
    });
  }

  async start(): Promise<void> {
    this.ensureCluster();
    const postgres = requireExecutable(['postgres'], 'postgresql', PG_BIN_DIRS);
    const args = [
      '-D',
      this.dataDir,
      '-p',
      String(this.opts.port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${this.opts.dir}`,
      '-c',
      'max_connections=200',
      // The stack's server settings (infra/postgres/postgresql.conf), as the cluster's StatefulSet passes them
      ...postgresArgs(),
      ...postgresArgs(this.opts.settings ?? []),
    ];
    if (this.opts.fast) args.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
    if (this.identity) {
      fs.writeFileSync(this.logFile, '', { flag: 'a' });
      fs.chownSync(this.logFile, this.identity.uid, this.identity.gid);
    }
    this.proc = await startAndAwait('postgres', postgres, args, this.logFile, () => this.accepts(), {
      ...(this.identity ?? {}),
      ...(this.opts.env ? { env: { ...process.env, ...this.opts.env } } : {}),
    });
    await this.ensureDatabase();
  }

  /** Fast shutdown (SIGINT): open sessions are ended, as a real outage would. */
  async stop(): Promise<void> {
    this.resume(); // a paused postmaster would not act on SIGINT
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.child.exitCode !== null) return;
    proc.child.kill('SIGINT');
    await proc.stop(15000);
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.child.exitCode === null;
  }

  /** SIGSTOP to the postmaster and each of its processes: connections stay open and nothing answers (a full stall). */
  pause(): void {
    this.paused = true;
    for (const pid of this.processes()) signal(pid, 'SIGSTOP');
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const pid of this.processes().reverse()) signal(pid, 'SIGCONT');
  }

  /** The postmaster first, then its children (backends, checkpointer, …), from /proc. */
  private processes(): number[] {
    const root = this.proc?.child.pid;
    if (root === undefined) return [];
    const children = fs
      .readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          // The parent pid is the second field after the command, which is in parentheses and may hold spaces.
          const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === root;
        } catch {
          return false; // gone meanwhile
        }
      })
      .map(Number);
    return [root, ...children];
  }

  private async accepts(): Promise<boolean> {
    const client = new Client({ connectionString: this.adminUrl, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Another database on this cluster (created when missing): the owner's and the service's URLs of it. */
  async database(name: string): Promise<{ url: string; serviceUrl: string }> {
    await this.ensureDatabase(name);
    const [url, serviceUrl] = [new URL(this.url), new URL(this.serviceUrl)];
    url.pathname = serviceUrl.pathname = `/${name}`;
    return { url: url.toString(), serviceUrl: serviceUrl.toString() };
  }

  private async ensureDatabase(db = new URL(this.url).pathname.slice(1)): Promise<void> {
    const client = new Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
      if (!rowCount) await client.query(`CREATE DATABASE "${db.replace(/"/g, '""')}"`);
    } finally {
      await client.end();
    }
  }
}

/** A Redis server without persistence (or with, for `make local`) that can be stopped and restarted. */
export class RedisServer {
  readonly url: string;
  private proc?: Running;

  constructor(private readonly opts: { dir: string; port: number; persist?: boolean }) {
    this.url = `redis://127.0.0.1:${opts.port}`;
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.opts.dir, { recursive: true });
    const bin = requireExecutable(['redis-server'], 'redis-server');
    const args = ['--port', String(this.opts.port), '--bind', '127.0.0.1', '--dir', this.opts.dir, '--daemonize', 'no'];
    args.push(...(this.opts.persist ? ['--appendonly', 'yes'] : ['--save', '', '--appendonly', 'no']));
    this.proc = await startAndAwait('redis', bin, args, path.join(this.opts.dir, 'redis.log'), () => portOpen(this.opts.port));
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    proc?.child.kill('SIGCONT'); // a paused server would not act on SIGTERM
    await proc?.stop(5000);
  }

  /** SIGSTOP: the stalled server keeps its connections open and answers nothing (worse for clients than a dead one). */
  pause(): void {
    this.proc?.child.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.child.kill('SIGCONT');
  }
}

/** Prometheus with a given configuration file, its TSDB under `dir`. */
export async function startPrometheus(opts: {
  dir: string;
  port: number;
  configFile: string;
  extraArgs?: string[];
}): Promise<Running & { url: string }> {
  const bin = requireExecutable(['prometheus'], 'prometheus');
  const url = `http://127.0.0.1:${opts.port}`;
  const args = [
    `--config.file=${opts.configFile}`,
    `--storage.tsdb.path=${path.join(opts.dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${opts.port}`,
    '--web.enable-lifecycle',
    ...(opts.extraArgs ?? []),
  ];
  const proc = await startAndAwait('prometheus', bin, args, path.join(opts.dir, 'prometheus.log'), () => httpOk(`${url}/-/ready`));
  return Object.assign(proc, { url });
}

/** The Prometheus Pushgateway (Debian names the binary prometheus-pushgateway). */
export async function startPushgateway(opts: { dir: string; port: number }): Promise<Running & { url: string }> {
  const bin = requireExecutable(['prometheus-pushgateway', 'pushgateway'], 'prometheus-pushgateway');
  const url = `http://127.0.0.1:${opts.port}`;
  const args = [`--web.listen-address=127.0.0.1:${opts.port}`];
  const proc = await startAndAwait('pushgateway', bin, args, path.join(opts.dir, 'pushgateway.log'), () => httpOk(`${url}/-/ready`));
  return Object.assign(proc, { url });
}

/** Alertmanager with a given configuration; clustering off so it binds nothing but loopback. */
export async function startAlertmanager(opts: {
  dir: string;
  port: number;
  configFile: string;
  extraArgs?: string[];
}): Promise<Running & { url: string }> {
  const bin = requireExecutable(['prometheus-alertmanager', 'alertmanager'], 'prometheus-alertmanager');
  const url = `http://127.0.0.1:${opts.port}`;
  const args = [
    `--config.file=${opts.configFile}`,
    `--storage.path=${path.join(opts.dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${opts.port}`,
    '--cluster.listen-address=',
    ...(opts.extraArgs ?? []),
  ];
  const proc = await startAndAwait('alertmanager', bin, args, path.join(opts.dir, 'alertmanager.log'), () => httpOk(`${url}/-/ready`));
  return Object.assign(proc, { url });
}

/** Grafana is optional: returns its binary when one is installed. */
export function findGrafana(): string | undefined {
  return findExecutable(['grafana', 'grafana-server'], ['/usr/sbin', '/usr/share/grafana/bin']);
}

/**
 * prometheus-postgres-exporter (Debian 0.11) against a PostgreSQL URL. The connection string goes in the
 * environment (DATA_SOURCE_NAME), as the exporter expects, never on the command line.
 */
export async function startPostgresExporter(opts: { dir: string; port: number; databaseUrl: string }): Promise<Running & { url: string }> {
  const bin = requireExecutable(['prometheus-postgres-exporter', 'postgres_exporter'], 'prometheus-postgres-exporter');
  const url = `http://127.0.0.1:${opts.port}`;
  const dsn = new URL(opts.databaseUrl);
  if (!dsn.searchParams.has('sslmode')) dsn.searchParams.set('sslmode', 'disable'); // loopback only
  const proc = await startAndAwait(
    'postgres-exporter',
    bin,
    [`--web.listen-address=127.0.0.1:${opts.port}`, '--log.level=warn'],
    path.join(opts.dir, 'postgres-exporter.log'),
    () => httpOk(`${url}/metrics`),
    { env: { ...process.env, DATA_SOURCE_NAME: dsn.toString() } },
  );
  return Object.assign(proc, { url });
}

/** prometheus-redis-exporter (Debian 1.45) against a Redis URL. */
export async function startRedisExporter(opts: { dir: string; port: number; redisUrl: string }): Promise<Running & { url: string }> {
  const bin = requireExecutable(['prometheus-redis-exporter', 'redis_exporter'], 'prometheus-redis-exporter');
  const url = `http://127.0.0.1:${opts.port}`;
  const proc = await startAndAwait(
    'redis-exporter',
    bin,
    [`-web.listen-address=127.0.0.1:${opts.port}`, `-redis.addr=${opts.redisUrl}`],
    path.join(opts.dir, 'redis-exporter.log'),
    () => httpOk(`${url}/metrics`),
  );
  return Object.assign(proc, { url });
}
