/**
 * `make compat-test`: expand, then contract (CONTRIBUTING.md), checked with both apps for real.
 * 1. The previous release's app on our schema: its own ingest and reads tests (its tree, its dependencies),
 *    against a database our migration runner migrated with our migrations: a rolling upgrade and a rollback.
 * 2. Our app on the previous release's schema: our ingest and reads tests against a database migrated only as
 *    far as the previous release's migrations go (a deploy whose migration has not run yet, or was held back).
 * One PostgreSQL and one Redis of the test harness serve both, on free loopback ports.
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MIGRATIONS_DIR, runMigrations } from '../../app/src/db/migrate';
import { freePort } from '../stack/process';
import { PostgresServer, RedisServer } from '../stack/services';
import { CompatError, git, previousRelease } from './previous-release';
import { migrationsAt, previousTree, releasedMigrationProblems } from './previous-tree';

/** The ingest and reads tests, where each revision keeps them (reads.test.ts is newer than events.test.ts). */
const INGEST_TESTS = 'app/test/events.test.ts';
export const COMPAT_TESTS = [INGEST_TESTS, 'app/test/reads.test.ts'];

export interface CompatOptions {
  repo: string;
  /** Where installed trees of previous releases are kept, one per commit. */
  cacheDir: string;
  /** COMPAT_BASE: the revision to take as the previous release instead of the tags' answer. */
  override?: string;
  log: (line: string) => void;
  warn: (line: string) => void;
}

export interface CompatResult {
  base: string;
  passed: boolean;
  steps: Array<{ name: string; passed: boolean; seconds: number }>;
}

interface Harness {
  dir: string;
  postgres: PostgresServer;
  redis: RedisServer;
}

function testsIn(tree: string, what: string): string[] {
  const files = COMPAT_TESTS.filter((f) => fs.existsSync(path.join(tree, f)));
  if (!files.includes(INGEST_TESTS)) throw new CompatError(`${what} has no ${INGEST_TESTS}: no ingest tests to run`);
  return files;
}

/** A jest config of our own: the tree's transform and tests, without its global setup (we started the services). */
function writeJestConfig(tree: string, files: string[], file: string): void {
  const config = {
    rootDir: tree,
    testEnvironment: 'node',
    transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(tree, 'tsconfig.json') }] },
    testMatch: files.map((f) => path.join(tree, f)),
    // our tree holds the previous release's under out/compat: its package names would collide with ours
    modulePathIgnorePatterns: ['<rootDir>/out/', '<rootDir>/.tools/'],
    testTimeout: 30000,
  };
  fs.writeFileSync(file, `module.exports = ${JSON.stringify(config, null, 2)};\n`);
}

/** Runs the tree's own jest on `files` with the harness's URLs; resolves whether every test passed. */
function runJest(tree: string, files: string[], env: NodeJS.ProcessEnv, configFile: string): Promise<boolean> {
  const jest = path.join(tree, 'node_modules', 'jest', 'bin', 'jest.js');
  if (!fs.existsSync(jest)) throw new CompatError(`${tree} has no jest installed (${jest})`);
  writeJestConfig(tree, files, configFile);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [jest, '--ci', '--config', configFile], {
      cwd: tree,
      stdio: 'inherit',
      env: { ...process.env, ...env },
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code === 0));
  });
}

/** A new database on the harness's PostgreSQL, migrated by our runner with our first `count` migrations (all by default). */
async function migratedDatabase(h: Harness, count?: number): Promise<NodeJS.ProcessEnv> {
  const db = await h.postgres.database(`compat_${randomBytes(6).toString('hex')}`);
  await runMigrations(db.url, { quiet: true, serviceUrl: db.serviceUrl, ...(count === undefined ? {} : { count }) });
  return {
    TEST_DATABASE_URL: db.url,
    TEST_SERVICE_DATABASE_URL: db.serviceUrl,
    TEST_REDIS_URL: h.redis.url,
    TEST_STACK_DIR: h.dir,
  };
}

async function startHarness(): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compat-test-'));
  fs.chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user and must reach its data directory
  const postgres = new PostgresServer({ dir: path.join(dir, 'postgres'), port: await freePort(), fast: true, servicePassword: 'compat' });
  const redis = new RedisServer({ dir: path.join(dir, 'redis'), port: await freePort() });
  try {
    await Promise.all([postgres.start(), redis.start()]);
  } catch (err) {
    await Promise.all([postgres.stop(), redis.stop()]);
    throw err;
  }
  return { dir, postgres, redis };
}

/** The previous release: which commit, said how, with its migrations checked against ours. */
function chooseBase(o: CompatOptions): { sha: string; migrations: number } {
  const ours = fs.readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql'));
  const base = previousRelease(o.repo, ours, o.override);
  const subject = git(o.repo, ['log', '-1', '--format=%h %cs %s', base.sha]);
  o.log(`previous release: ${base.sha} (${subject.length > 110 ? `${subject.slice(0, 110)}…` : subject})`);
  (base.standIn ? o.warn : o.log)(`${base.standIn ? 'WARNING: ' : ''}chosen as ${base.how}`);
  const problems = releasedMigrationProblems(o.repo, base.sha, MIGRATIONS_DIR);
  if (problems.length) throw new CompatError(`the previous release's migrations are not ours, extended:\n  ${problems.join('\n  ')}`);
  const migrations = migrationsAt(o.repo, base.sha).length;
  o.log(`schemas: ours has ${ours.length} migrations, the previous release's the first ${migrations} of them`);
  return { sha: base.sha, migrations };
}

export async function runCompat(o: CompatOptions): Promise<CompatResult> {
  const base = chooseBase(o);
  const oldTree = await previousTree(o.repo, base.sha, o.cacheDir, o.log);
  const h = await startHarness();
  const steps: CompatResult['steps'] = [];
  const step = async (name: string, tree: string, files: string[], count?: number) => {
    o.log(`${name}: ${files.join(', ')}`);
    const started = Date.now();
    const env = await migratedDatabase(h, count);
    const passed = await runJest(tree, files, env, path.join(h.dir, `jest-${steps.length}.config.js`));
    steps.push({ name, passed, seconds: (Date.now() - started) / 1000 });
  };
  try {
    await step(`the previous release's app (${base.sha.slice(0, 12)}) on our schema`, oldTree, testsIn(oldTree, base.sha.slice(0, 12)));
    await step(
      `our app on the previous release's schema (${base.migrations} migrations)`,
      o.repo,
      testsIn(o.repo, 'this tree'),
      base.migrations,
    );
  } finally {
    await Promise.all([h.postgres.stop(), h.redis.stop()]);
  }
  const passed = steps.every((s) => s.passed);
  if (passed) fs.rmSync(h.dir, { recursive: true, force: true });
  else o.warn(`PostgreSQL and Redis logs kept in ${h.dir}`);
  return { base: base.sha, passed, steps };
}
