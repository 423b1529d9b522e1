/**
 * `make compat-test` (compat.ts): the previous release's app on our schema, ours on its schema.
 * COMPAT_BASE=<revision> names the previous release instead of the newest v* tag. A shallow clone is deepened
 * from its origin first; COMPAT_SHALLOW_SKIP=1 (.ci/run) turns the refusal of one that cannot be into a loud warning.
 */
import path from 'node:path';
import { runCompat } from './compat';
import { CompatError, deepenShallowClone, ShallowClone } from './previous-release';

const repo = path.resolve(__dirname, '..', '..');
const started = Date.now();
deepenShallowClone(repo, (line) => console.log(`compat-test: ${line}`));
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
    if (err instanceof ShallowClone && process.env.COMPAT_SHALLOW_SKIP === '1') {
      // .ci/run sets it: a clone that even `git fetch --unshallow` could not deepen cannot run the check; say so loudly.
      console.error(`compat-test: WARNING: NOT RUN: ${err.message}`);
      return;
    }
    console.error(`compat-test: FAILED: ${err instanceof CompatError ? err.message : (err.stack ?? err.message)}`);
    process.exit(1);
  },
);
