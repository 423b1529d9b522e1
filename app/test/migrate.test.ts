/**
 * `make migrate` on a fresh cluster: PostgreSQL may come up after the migration starts. The migration
 * waits (bounded by MIGRATE_WAIT_S, each attempt logged) instead of failing on the first refusal.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { freePort, sleep, waitFor } from '../../tools/stack/process';
import { PostgresServer } from '../../tools/stack/services';

const ROOT = path.join(__dirname, '..', '..');

interface Run {
  output(): string;
  exited: Promise<number | null>;
}

/** `make migrate` as a person runs it (built once in beforeAll), its output collected. */
function makeMigrate(env: Record<string, string>): Run {
  let out = '';
  const child = spawn('make', ['-s', '-o', 'build', 'migrate'], { cwd: ROOT, env: { ...process.env, ...env } });
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return { output: () => out, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(process.env.TEST_STACK_DIR as string, 'migrate-'));
  fs.chmodSync(dir, 0o755);
  execFileSync('make', ['-s', 'build'], { cwd: ROOT, stdio: 'ignore' });
}, 120000);

test('when PostgreSQL starts 6 s after `make migrate`, then the migration waits, logging each attempt, and succeeds', async () => {
  const pg = new PostgresServer({ dir: path.join(dir, 'late'), port: await freePort(), fast: true });
  // The cluster and its database exist (as the image's init creates them); the server is down.
  await pg.start();
  await pg.stop();

  const run = makeMigrate({ DATABASE_URL: pg.url, MIGRATE_WAIT_S: '60' });
  try {
    await waitFor('the first failed attempt', async () => /attempt 1: .*ECONNREFUSED/.test(run.output()), 60000);
    await sleep(6000);
    await pg.start();
    expect(await run.exited).toBe(0);
    const out = run.output();
    expect(out).toMatch(/migrate: PostgreSQL not reachable yet \(attempt 1: .*ECONNREFUSED.*\); next attempt in 0\.5 s/);
    const attempts = out.match(/not reachable yet \(attempt \d+/g) ?? [];
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    expect(out).toMatch(/migrate: PostgreSQL answers \(attempt \d+\)/);
    expect(out).toContain('migrations applied');
    const client = new Client({ connectionString: pg.url });
    await client.connect();
    try {
      expect((await client.query(`SELECT to_regclass('events') IS NOT NULL AS ok`)).rows[0].ok).toBe(true);
    } finally {
      await client.end();
    }
  } finally {
    await pg.stop();
  }
}, 120000);

test('when PostgreSQL never comes, then the migration gives up after MIGRATE_WAIT_S, fails and says why', async () => {
  const url = `postgres://postgres@127.0.0.1:${await freePort()}/events`;
  const run = makeMigrate({ DATABASE_URL: url, MIGRATE_WAIT_S: '2' });
  expect(await run.exited).not.toBe(0);
  expect(run.output()).toMatch(/PostgreSQL not reachable after \d+ attempt\(s\) in 2 s \(MIGRATE_WAIT_S\): .*ECONNREFUSED/);
}, 90000);

test('when the database does not exist, then the migration fails at once: waiting cannot fix it', async () => {
  const url = new URL(process.env.TEST_DATABASE_URL as string);
  url.pathname = '/no_such_database';
  const run = makeMigrate({ DATABASE_URL: url.toString(), MIGRATE_WAIT_S: '60' });
  expect(await run.exited).not.toBe(0);
  expect(run.output()).toMatch(/PostgreSQL refused the migration: database "no_such_database" does not exist/);
  expect(run.output()).not.toContain('not reachable yet');
}, 90000);

test('when MIGRATE_WAIT_S is not a number, then the migration fails naming it', async () => {
  const run = makeMigrate({ DATABASE_URL: process.env.TEST_DATABASE_URL as string, MIGRATE_WAIT_S: 'soon' });
  expect(await run.exited).not.toBe(0);
  expect(run.output()).toMatch(/^config error: MIGRATE_WAIT_S: /m);
}, 90000);
