/**
 * Applies the versioned SQL migrations in app/migrations with node-pg-migrate.
 * Used by `make migrate`, the test harness, `make local` and the Kubernetes migration Job
 * (`node dist/db/migrate.js`). Reads only DATABASE_URL.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

export const MIGRATIONS_DIR = path.join(__dirname, '..', '..', 'migrations');

export function runMigrations(
  databaseUrl: string,
  opts: { quiet?: boolean; direction?: 'up' | 'down'; signal?: AbortSignal } = {},
): Promise<void> {
  const bin = require.resolve('node-pg-migrate/bin/node-pg-migrate');
  const args = [bin, opts.direction ?? 'up', '-m', MIGRATIONS_DIR, '--advisory-lock-mode', 'wait', '--verbose', 'false'];
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn(process.execPath, args, {
      env: { ...process.env, DATABASE_URL: databaseUrl },
      stdio: ['ignore', opts.quiet ? 'pipe' : 'inherit', opts.quiet ? 'pipe' : 'inherit'],
      signal: opts.signal,
      killSignal: 'SIGTERM',
    });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`migrations failed (exit ${code})\n${output}`))));
  });
}

if (require.main === module) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('DATABASE_URL: required but not set (the database to migrate)');
    process.exit(2);
  }
  // As PID 1 in a container nothing else forwards SIGTERM: pass it on to the migration process.
  const abort = new AbortController();
  process.once('SIGTERM', () => abort.abort());
  runMigrations(url, { signal: abort.signal }).then(
    () => console.log('migrations applied'),
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
