/**
 * The fault tests' own world: a PostgreSQL and a Redis of their own on free ports (stopping them
 * disturbs no other test), and the service as a separate child process, so it can be killed with
 * SIGKILL or SIGTERM like in production. Everything it prints goes to a log file under the test
 * stack directory, where the run-wide secret scan (tools/test/secret-scan.ts) reads it.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { runMigrations } from '../../src/db/migrate';
import { freePort, logTail, waitFor } from '../../../tools/stack/process';
import { PostgresServer, RedisServer } from '../../../tools/stack/services';

const ROOT = path.join(__dirname, '..', '..', '..');
const SERVER = path.join(ROOT, 'app', 'src', 'server.ts');

/** Recognisable secrets: the secret scan looks for these shapes in every log of the run. */
export const newAdminToken = () => `admin-${randomBytes(24).toString('hex')}`;
export const newPassword = () => `pw-${randomBytes(16).toString('hex')}`;

export class FaultStack {
  readonly dir: string;
  readonly postgres: PostgresServer;
  readonly redis: RedisServer;
  readonly adminToken = newAdminToken();
  /** PostgreSQL trusts loopback here, so the password is never checked: it is only there to be kept out of logs. */
  readonly password = newPassword();

  private constructor(dir: string, pgPort: number, redisPort: number) {
    this.dir = dir;
    this.postgres = new PostgresServer({ dir: path.join(dir, 'postgres'), port: pgPort, fast: true });
    this.redis = new RedisServer({ dir: path.join(dir, 'redis'), port: redisPort });
  }

  static async start(name: string): Promise<FaultStack> {
    const base = process.env.TEST_STACK_DIR;
    if (!base) throw new Error('TEST_STACK_DIR is not set: run the fault tests through jest');
    const dir = fs.mkdtempSync(path.join(base, `faults-${name}-`));
    fs.chmodSync(dir, 0o755);
    const stack = new FaultStack(dir, await freePort(), await freePort());
    await Promise.all([stack.postgres.start(), stack.redis.start()]);
    await runMigrations(stack.postgres.url, { quiet: true });
    return stack;
  }

  get databaseUrl(): string {
    const url = new URL(this.postgres.url);
    url.password = this.password;
    return url.toString();
  }

  async stop(): Promise<void> {
    await Promise.all([this.postgres.stop(), this.redis.stop()]);
  }

  /** Rows of the events table for a sensor: event id → how many times it is stored. */
  async storedCounts(sensorId: string): Promise<Map<string, number>> {
    const client = new Client({ connectionString: this.postgres.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ event_id: string; n: string }>(
        'SELECT event_id, count(*) AS n FROM events WHERE sensor_id = $1 GROUP BY event_id',
        [sensorId],
      );
      return new Map(rows.map((r) => [r.event_id, Number(r.n)]));
    } finally {
      await client.end();
    }
  }
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

/** The service as a child process on a fixed port (so a restart comes back where clients expect it). */
export class ChildService {
  readonly url: string;
  readonly logFile: string;
  private child?: ChildProcess;
  private exited?: Promise<ChildExit>;
  private starts = 0;

  constructor(
    private readonly stack: FaultStack,
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.logFile = path.join(stack.dir, 'service.log');
  }

  static async start(stack: FaultStack, env: Record<string, string> = {}): Promise<ChildService> {
    const svc = new ChildService(stack, await freePort(), env);
    await svc.start();
    return svc;
  }

  get environment(): Record<string, string> {
    return {
      PORT: String(this.port),
      HOST: '127.0.0.1',
      DATABASE_URL: this.stack.databaseUrl,
      REDIS_URL: this.stack.redis.url,
      ADMIN_TOKEN: this.stack.adminToken,
      LOG_LEVEL: 'info',
      ...this.env,
    };
  }

  /** Starts the process (again) and waits until /readyz answers 200. */
  async start(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) throw new Error('the service is already running');
    const out = fs.openSync(this.logFile, 'a');
    fs.writeSync(out, `--- start ${++this.starts} ---\n`);
    // `node --import tsx` runs the server in this very process: a signal reaches the service itself, not a wrapper.
    const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...this.environment },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal: signal as NodeJS.Signals | null, at: Date.now() })),
    );
    let gone = false;
    void this.exited.then(() => (gone = true));
    try {
      await waitFor(
        'the service to become ready',
        async () => {
          if (gone) throw new Error('the service exited during start-up');
          const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          return res.status === 200;
        },
        30000,
        100,
      );
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n--- ${this.logFile} ---\n${logTail(this.logFile)}`);
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Sends a signal; resolves with how the process ended. */
  async kill(signal: NodeJS.Signals): Promise<ChildExit> {
    if (!this.child || !this.exited) throw new Error('the service was never started');
    this.child.kill(signal);
    return this.exited;
  }

  /** Resolves when the process has exited, or rejects after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<ChildExit> {
    if (!this.exited) throw new Error('the service was never started');
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms`)), timeoutMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the process if it still runs (SIGTERM, then SIGKILL): for `finally` blocks. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(timer);
  }

  log(): string {
    return fs.readFileSync(this.logFile, 'utf8');
  }

  async createSensor(name = `fault-${randomBytes(4).toString('hex')}`): Promise<{ sensorId: string; token: string }> {
    const res = await fetch(`${this.url}/api/v1/sensors`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${this.stack.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    if (res.status !== 201) throw new Error(`creating a sensor: ${res.status} ${await res.text()}`);
    return (await res.json()) as { sensorId: string; token: string };
  }

  async readyz(): Promise<{ status: number; body: any; ms: number }> {
    const t = Date.now();
    const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(10000) });
    return { status: res.status, body: await res.json(), ms: Date.now() - t };
  }

  async metrics(): Promise<string> {
    const res = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(10000) });
    return res.text();
  }
}
