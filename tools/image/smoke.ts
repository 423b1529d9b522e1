/**
 * `make image-test`: runs the built image for real and checks what the issue asks of it.
 *
 *   tsx tools/image/smoke.ts [IMAGE]      (default event-service:<version of app/package.json>)
 *
 * Real PostgreSQL, Redis and Pushgateway (tools/stack) on free loopback ports; every container runs with
 * `--network host --read-only --tmpfs /tmp` and the image's own user. Prints one line per check and a
 * summary; exits 1 when any check fails. DOCKER names the docker CLI (scripts/ensure-docker prints it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MAINTENANCE_JOB, MAINTENANCE_METRICS, SERVICE_METRICS } from '../../monitoring/src';
import { freePort, Running, sleep, waitFor } from '../stack/process';
import { PostgresServer, RedisServer, startPushgateway } from '../stack/services';

const ROOT = path.resolve(__dirname, '..', '..');
const DOCKER = process.env.DOCKER || 'docker';
const MAX_ADDED_MB = Number(process.env.IMAGE_MAX_ADDED_MB ?? 60);
const STOP_GRACE_S = 15;

const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'app', 'package.json'), 'utf8')) as { version: string }).version;
const commit = process.env.GIT_COMMIT || execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT }).toString().trim();
const image = process.argv[2] ?? `event-service:${version}`;

// ── reporting ──
const results: Array<{ ok: boolean; name: string }> = [];
function check(ok: boolean, name: string, detail = ''): boolean {
  results.push({ ok, name });
  console.log(`  ${ok ? '✓' : '✗'} ${name}${detail ? ` — ${detail}` : ''}`);
  return ok;
}
async function step(name: string, fn: () => Promise<string | void>): Promise<void> {
  try {
    const detail = await fn();
    check(true, name, detail ?? '');
  } catch (err) {
    check(false, name, (err as Error).message.split('\n').slice(0, 12).join('\n      '));
  }
}
function expect(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

// ── docker ──
function docker(args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): { code: number; out: string; err: string } {
  const r = spawnSync(DOCKER, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000 });
  const res = { code: r.status ?? -1, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
  if (res.code !== 0 && !opts.allowFail)
    throw new Error(`docker ${args.slice(0, 3).join(' ')} … exited ${res.code}: ${res.err || res.out}`);
  return res;
}
const inspect = <T>(ref: string, format: string): T =>
  JSON.parse(docker(['image', 'inspect', '--format', `{{json ${format}}}`, ref]).out) as T;

/** `docker run` flags every container of this test gets: host network, read-only root, writable /tmp only. */
const HARDENED = ['--network', 'host', '--read-only', '--tmpfs', '/tmp:rw,noexec,nosuid,size=16m'];

async function main(): Promise<void> {
  console.log(`image-test: ${image} (expecting version ${version}, commit ${commit})`);
  if (docker(['image', 'inspect', image], { allowFail: true }).code !== 0) {
    console.error(`image-test: no image ${image}; build it first (make image)`);
    process.exit(1);
  }

  console.log('\nimage metadata');
  const labels = inspect<Record<string, string>>(image, '.Config.Labels');
  const user = inspect<string>(image, '.Config.User');
  const env = inspect<string[]>(image, '.Config.Env');
  check(
    labels['org.opencontainers.image.version'] === version,
    'label org.opencontainers.image.version = package version',
    labels['org.opencontainers.image.version'],
  );
  check(
    labels['org.opencontainers.image.revision'] === commit,
    'label org.opencontainers.image.revision = git commit',
    labels['org.opencontainers.image.revision'],
  );
  const created = labels['org.opencontainers.image.created'] ?? '';
  check(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(created), 'label org.opencontainers.image.created is an RFC 3339 time', created);
  const source = labels['org.opencontainers.image.source'] ?? '';
  check(source !== '', 'label org.opencontainers.image.source is set', source);
  check(/^[1-9]\d*(:\d+)?$/.test(user), 'runs as a numeric non-root uid by default (USER)', user);
  check(env.includes(`GIT_COMMIT=${commit}`), 'env GIT_COMMIT = git commit');

  const base = labels['org.opencontainers.image.base.name'] ?? '';
  const size = inspect<number>(image, '.Size');
  const baseSize = base ? inspect<number>(base, '.Size') : NaN;
  const addedMb = (size - baseSize) / 1e6;
  check(
    addedMb < MAX_ADDED_MB,
    `the runtime layers add < ${MAX_ADDED_MB} MB on top of the base`,
    `${addedMb.toFixed(1)} MB added to ${base} (${(baseSize / 1e6).toFixed(1)} MB); image ${(size / 1e6).toFixed(1)} MB`,
  );

  await step('the runtime holds only app/dist, package.json, migrations and production dependencies', async () => {
    const probe = `const fs=require('fs');const e=(p)=>fs.existsSync(p);console.log(JSON.stringify({app:fs.readdirSync('/app').sort(),
      tooling:['typescript','jest','ts-jest','eslint','prettier','tsx','@pulumi','@grafana','@types/express','@types/jest','kubernetes-models','autocannon','fast-check'].filter(p=>e('/app/node_modules/'+p)),
      ts:fs.readdirSync('/app/dist',{recursive:true}).filter(f=>String(f).endsWith('.ts')&&!String(f).endsWith('.d.ts')),
      ca:e('/tmp/build-ca.pem')||e('/src')}))`;
    const got = JSON.parse(docker(['run', '--rm', ...HARDENED, image, 'node', '-e', probe]).out) as {
      app: string[];
      tooling: string[];
      ts: string[];
      ca: boolean;
    };
    expect(
      JSON.stringify(got.app) === JSON.stringify(['dist', 'migrations', 'node_modules', 'package.json']),
      `/app holds ${got.app.join(', ')}`,
    );
    expect(got.tooling.length === 0, `tooling in node_modules: ${got.tooling.join(', ')}`);
    expect(got.ts.length === 0, `TypeScript sources in dist: ${got.ts.join(', ')}`);
    expect(!got.ca, 'build leftovers (/src or the build CA file) in the image');
    const history = docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', image]).out;
    expect(!/BUILD_CA_CERTS|BEGIN CERTIFICATE/.test(history), 'the build CA certificates show in the image history');
    return `/app = ${got.app.join(', ')}`;
  });

  console.log('\nrunning against real PostgreSQL, Redis and Pushgateway on 127.0.0.1');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-stack-image-test-'));
  fs.chmodSync(dir, 0o755);
  const postgres = new PostgresServer({ dir: path.join(dir, 'postgres'), port: await freePort(), fast: true });
  const redis = new RedisServer({ dir: path.join(dir, 'redis'), port: await freePort() });
  let pushgateway: (Running & { url: string }) | undefined;
  const name = `event-service-image-test-${randomBytes(4).toString('hex')}`;
  try {
    await Promise.all([postgres.start(), redis.start()]);
    pushgateway = await startPushgateway({ dir: path.join(dir, 'pushgateway'), port: await freePort() });
    await runAgainst({ postgres, redis, pushgateway, name });
  } finally {
    docker(['rm', '-f', name], { allowFail: true });
    await Promise.all([postgres.stop(), redis.stop(), pushgateway?.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What every step against the running container needs. */
interface Run {
  s: { postgres: PostgresServer; redis: RedisServer; pushgateway: Running & { url: string }; name: string };
  port: number;
  base: string;
  adminToken: string;
  /** As deployed: the migration and the maintenance job connect as the owner, the service as its own row-only role. */
  dbEnv: string[];
  serviceDbEnv: string[];
}

async function runAgainst(s: Run['s']) {
  const port = await freePort();
  const ctx: Run = {
    s,
    port,
    base: `http://127.0.0.1:${port}`,
    adminToken: randomBytes(24).toString('base64url'),
    dbEnv: ['-e', `DATABASE_URL=${s.postgres.url}`],
    serviceDbEnv: ['-e', `DATABASE_URL=${s.postgres.serviceUrl}`],
  };
  await migrationsFromTheImage(ctx);
  const started = startService(ctx);
  await checkTheContainer(ctx, started);
  await checkTheApi(ctx);
  await stopAndRunTheJob(ctx);
}

/** Runs one script of the image in a hardened, throw-away container with the database settings and one more variable. */
function runOnce(ctx: Run, env: string, script: string) {
  return docker(['run', '--rm', ...HARDENED, ...ctx.dbEnv, '-e', env, image, 'node', script], { allowFail: true });
}

async function migrationsFromTheImage(ctx: Run): Promise<void> {
  await step('migrations run from the image (node dist/db/migrate.js) exit 0 and set up the service role', async () => {
    const r = runOnce(ctx, `SERVICE_DATABASE_URL=${ctx.s.postgres.serviceUrl}`, 'dist/db/migrate.js');
    expect(r.code === 0, `exit ${r.code}: ${r.err || r.out}`);
    expect(r.out.includes('migrate: role event_service may read and write rows (no DDL)'), `no service role set up: ${r.out}`);
    return r.out.split('\n').pop();
  });
}

/** Starts the service's container in the background; returns when it was started. */
function startService(ctx: Run): number {
  docker([
    'run',
    '-d',
    '--name',
    ctx.s.name,
    ...HARDENED,
    ...ctx.serviceDbEnv,
    '-e',
    `REDIS_URL=${ctx.s.redis.url}`,
    '-e',
    `ADMIN_TOKEN=${ctx.adminToken}`,
    '-e',
    'HOST=127.0.0.1',
    '-e',
    `PORT=${ctx.port}`,
    '-e',
    'SHUTDOWN_GRACE_MS=5000',
    image,
  ]);
  return Date.now();
}

/** Ready, the right version, PID 1 not root, the root filesystem read-only. */
async function checkTheContainer(ctx: Run, started: number): Promise<void> {
  await step('GET /readyz answers 200', async () => {
    try {
      await waitFor('/readyz 200', async () => (await fetch(`${ctx.base}/readyz`)).status === 200, 60_000, 250);
    } catch (err) {
      const logs = docker(['logs', '--tail', '20', ctx.s.name], { allowFail: true });
      throw new Error(`${(err as Error).message}\ncontainer logs:\n${logs.out}\n${logs.err}`);
    }
    return `after ${((Date.now() - started) / 1000).toFixed(1)} s`;
  });

  await step('GET /version = package version and git commit', async () => {
    const body = (await (await fetch(`${ctx.base}/version`)).json()) as { version: string; commit: string };
    expect(body.version === version && body.commit === commit, `got ${JSON.stringify(body)}`);
    return JSON.stringify(body);
  });

  await step('PID 1 is node dist/server.js, running as a non-root uid', async () => {
    const cmdline = docker(['exec', ctx.s.name, 'cat', '/proc/1/cmdline']).out.replace(/\0/g, ' ').trim();
    const uid = /^Uid:\s+(\d+)/m.exec(docker(['exec', ctx.s.name, 'cat', '/proc/1/status']).out)?.[1];
    expect(cmdline === 'node dist/server.js', `PID 1 is "${cmdline}"`);
    expect(uid !== undefined && uid !== '0', `PID 1 runs as uid ${uid}`);
    return `uid ${uid}`;
  });

  await step('the root filesystem is read-only; /tmp is writable', async () => {
    const app = docker(['exec', ctx.s.name, 'sh', '-c', 'touch /app/x'], { allowFail: true });
    const root = docker(['exec', ctx.s.name, 'sh', '-c', 'touch /x'], { allowFail: true });
    const tmp = docker(['exec', ctx.s.name, 'sh', '-c', 'touch /tmp/x && rm /tmp/x'], { allowFail: true });
    expect(app.code !== 0 && root.code !== 0, 'a write outside /tmp succeeded');
    expect(tmp.code === 0, `writing /tmp failed: ${tmp.err}`);
  });
}

/** A sensor, a batch in and out, and the build info on /metrics. */
async function checkTheApi(ctx: Run): Promise<void> {
  let sensorToken = '';
  await step('POST /api/v1/sensors (admin token) creates a sensor and returns its token', async () => {
    const res = await fetch(`${ctx.base}/api/v1/sensors`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ctx.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'image-test' }),
    });
    const body = (await res.json()) as { token?: string; sensorId?: string };
    expect(res.status === 201 && typeof body.token === 'string', `${res.status} ${JSON.stringify(body)}`);
    sensorToken = body.token!;
    return `201, sensor ${body.sensorId}`;
  });

  const batch = [0, 1, 2].map((i) => ({ id: randomUUID(), type: 'image.test', payload: { i } }));
  await step('POST /api/v1/events (sensor token) ingests a batch of 3', async () => {
    const res = await fetch(`${ctx.base}/api/v1/events`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${sensorToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ events: batch }),
    });
    const body = (await res.json()) as unknown;
    expect(res.status === 202, `${res.status} ${JSON.stringify(body)}`);
    return `202 ${JSON.stringify(body)}`;
  });

  await step('GET /api/v1/events reads the batch back', async () => {
    // One clock reading: two would put since and until more than the hour apart a read with `type` may span.
    const now = Date.now();
    const lastHour = `since=${new Date(now - 3_540_000).toISOString()}&until=${new Date(now + 60_000).toISOString()}`;
    const res = await fetch(`${ctx.base}/api/v1/events?type=image.test&${lastHour}`, {
      headers: { Authorization: `Bearer ${sensorToken}` },
    });
    const body = (await res.json()) as { events?: Array<{ id: string; payload: unknown }> };
    const ids = new Set((body.events ?? []).map((e) => e.id));
    expect(res.status === 200 && batch.every((e) => ids.has(e.id)), `${res.status} ${JSON.stringify(body)}`);
    return `${ids.size} events, ids match`;
  });

  await step(`GET /metrics has ${SERVICE_METRICS.buildInfo.name} for this version and commit`, async () => {
    const text = await (await fetch(`${ctx.base}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${SERVICE_METRICS.buildInfo.name}{`));
    expect(!!line && line.includes(`version="${version}"`) && line.includes(`commit="${commit}"`), `got ${line}`);
  });
}

/** SIGTERM handled within the grace period, then the maintenance job from the same image. */
async function stopAndRunTheJob(ctx: Run): Promise<void> {
  await step(`docker stop (SIGTERM to PID 1) exits 0 within the grace period (${STOP_GRACE_S} s)`, async () => {
    const t0 = Date.now();
    docker(['stop', '-t', String(STOP_GRACE_S), ctx.s.name], { timeoutMs: (STOP_GRACE_S + 30) * 1000 });
    const took = (Date.now() - t0) / 1000;
    const state = JSON.parse(docker(['inspect', '--format', '{{json .State}}', ctx.s.name]).out) as {
      ExitCode: number;
      OOMKilled: boolean;
    };
    const logs = docker(['logs', ctx.s.name], { allowFail: true });
    expect(state.ExitCode === 0, `exit code ${state.ExitCode}`);
    expect(took < STOP_GRACE_S, `took ${took.toFixed(1)} s: SIGTERM was not handled (docker sent SIGKILL)`);
    expect(/"signal":"SIGTERM"/.test(logs.out + logs.err), 'the log does not show the SIGTERM being handled');
    return `exit 0 after ${took.toFixed(1)} s`;
  });

  await step('the maintenance job runs from the same image (node dist/jobs/maintenance.js) and pushes to the Pushgateway', async () => {
    const r = runOnce(ctx, `PUSHGATEWAY_URL=${ctx.s.pushgateway.url}`, 'dist/jobs/maintenance.js');
    expect(r.code === 0, `exit ${r.code}: ${(r.err || r.out).split('\n').slice(-5).join('\n')}`);
    let pushed = '';
    await waitFor(
      'maintenance metrics on the Pushgateway',
      async () => {
        const text = await (await fetch(`${ctx.s.pushgateway.url}/metrics`)).text();
        pushed =
          text
            .split('\n')
            .find((l) => l.startsWith(`${MAINTENANCE_METRICS.lastSuccess.name}{`) && l.includes(`job="${MAINTENANCE_JOB}"`)) ?? '';
        return pushed !== '';
      },
      5000,
    );
    return `exit 0; ${pushed.replace(/\{.*\}/, `{job="${MAINTENANCE_JOB}",…}`)}`;
  });
}

main()
  .catch((err: unknown) => {
    check(false, 'image-test ran to the end', (err as Error).stack ?? String(err));
  })
  .finally(async () => {
    await sleep(0);
    const failed = results.filter((r) => !r.ok);
    console.log(`\nimage-test: ${results.length - failed.length} passed, ${failed.length} failed (${image})`);
    for (const f of failed) console.log(`  failed: ${f.name}`);
    process.exit(failed.length ? 1 : 0);
  });
