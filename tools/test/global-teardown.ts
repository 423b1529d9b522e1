/** Stops the harness's services and removes their throwaway data (kept when KEEP_TEST_STACK=1). */
import fs from 'node:fs';
import { describeScan, scanLogsForSecrets } from './secret-scan';

export default async function globalTeardown(): Promise<void> {
  const stack = globalThis.__TEST_STACK__;
  if (!stack) return;
  await Promise.all([stack.postgres.stop(), stack.redis.stop()]);
  // Run-wide check (reliability/security): no log written by any test — in-process services,
  // child processes, PostgreSQL, Redis — holds a token or a password. It runs here because only
  // here has every test finished. A leak fails the run and keeps the logs for inspection.
  const scan = scanLogsForSecrets(stack.dir);
  console.log(describeScan(scan));
  if (process.env.KEEP_TEST_STACK === '1' || scan.findings.length) console.log(`test stack kept in ${stack.dir}`);
  else fs.rmSync(stack.dir, { recursive: true, force: true });
  if (scan.findings.length) throw new Error(describeScan(scan));
}
