/** The built service as a child process, configured the way every benchmark runs it, and the stores it uses. */
import fs from 'node:fs';
import path from 'node:path';
import { runMigrations } from '../app/src/db/migrate';
import { freePort, httpOk, Running, startAndAwait } from '../tools/stack/process';
import { withImageNodeOptions } from '../tools/stack/service-runtime';
import { PostgresServer, RedisServer } from '../tools/stack/services';

/**
 * PostgreSQL with its default (production) durability, fsync and synchronous_commit on, and Redis, each
 * our own on a free loopback port under `work`, with the migrations applied to `database`. Their stops
 * go onto `stops`, PostgreSQL's first. Also returns the postmaster's pid.
 */
export async function startBenchStores(
  work: string,
  database: string,
  stops: Array<() => Promise<void>>,
  /** Settings over infra/postgres/postgresql.conf's (bench/postgres-settings.ts compares them). */
  settings: Array<[string, string]> = [],
) {
  const pg = new PostgresServer({ dir: path.join(work, 'postgres'), port: await freePort(), database, fast: false, settings });
  await pg.start();
  stops.push(() => pg.stop());
  const redis = new RedisServer({ dir: path.join(work, 'redis'), port: await freePort() });
  await redis.start();
  stops.push(() => redis.stop());
  await runMigrations(pg.url, { quiet: true });
  // The cluster's CPU is counted from its postmaster down (bench/cpu.ts, clusterCpuMs).
  const postmasterPid = Number(fs.readFileSync(path.join(work, 'postgres', 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return { pg, redis, postmasterPid };
}

export interface BenchService {
  proc: Running;
  url: string;
  /** Creates a sensor through the admin API. */
  newSensor(name: string): Promise<{ sensorId: string; token: string }>;
}

export async function startBenchService(opts: {
  name: string;
  main: string;
  databaseUrl: string;
  redisUrl: string;
  adminToken: string;
  logDir: string;
  env?: Record<string, string>;
  nodeArgs?: string[];
  /** A command that runs `node …` after it, e.g. a shell that first moves itself into a memory cgroup. */
  launcher?: string[];
}): Promise<BenchService> {
  const port = await freePort();
  const [command, ...args] = [...(opts.launcher ?? []), process.execPath, ...(opts.nodeArgs ?? []), opts.main];
  const proc = await startAndAwait(
    opts.name,
    command!,
    args,
    path.join(opts.logDir, `${opts.name}.log`),
    () => httpOk(`http://127.0.0.1:${port}/readyz`),
    {
      // The image's NODE_OPTIONS (app/Dockerfile) unless a variant sets its own: measured as it runs.
      env: withImageNodeOptions({
        ...process.env,
        NODE_ENV: 'production',
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: opts.databaseUrl,
        REDIS_URL: opts.redisUrl,
        ADMIN_TOKEN: opts.adminToken,
        LOG_LEVEL: 'info',
        // One sensor per run sends far more than a real sensor: lift its limits so the run measures
        // ingest. The limiter still runs. The bound on bodies in flight is lifted above the open-loop
        // driver's 256 sockets, so a stall of the shared machine is measured as latency, not as 503s.
        RATE_LIMIT_EVENTS: '1000000000',
        INGEST_BODIES_PER_SENSOR: '100000',
        INGEST_BODIES_MAX: '1024',
        ...opts.env,
      }),
    },
  );
  const url = `http://127.0.0.1:${port}`;
  return {
    proc,
    url,
    async newSensor(name) {
      const res = await fetch(`${url}/api/v1/sensors`, {
        method: 'POST',
        headers: { authorization: `Bearer ${opts.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      if (res.status !== 201) throw new Error(`creating a sensor failed: ${res.status} ${await res.text()}`);
      return (await res.json()) as { sensorId: string; token: string };
    },
  };
}
