/**
 * `make compat-test` (compat.ts): the previous release's app on our schema, ours on its schema.
 * COMPAT_BASE=<revision> names the previous release instead of the newest v* tag.
 */
import path from 'node:path';
import { runCompat } from './compat';
import { CompatError } from './previous-release';

const repo = path.resolve(__dirname, '..', '..');
const started = Date.now();
runCompat({
  repo,
  cacheDir: path.join(repo, 'out', 'compat'),
  override: process.env.COMPAT_BASE || undefined,
  log: (line) => console.log(`compat-test: ${line}`),
  warn: (line) => console.error(`compat-test: ${line}`),
}).then(
  (r) => {
    for (const s of r.steps) console.log(`compat-test: ${s.passed ? 'passed' : 'FAILED'}: ${s.name} (${s.seconds.toFixed(1)} s)`);
    console.log(
      `compat-test: ${r.passed ? 'passed' : 'FAILED'} against ${r.base.slice(0, 12)} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    if (!r.passed) process.exit(1);
  },
  (err: Error) => {
    console.error(`compat-test: FAILED: ${err instanceof CompatError ? err.message : (err.stack ?? err.message)}`);
    process.exit(1);
  },
);
