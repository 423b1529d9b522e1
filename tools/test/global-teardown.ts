/** Stops the harness's services and removes their throwaway data (kept when KEEP_TEST_STACK=1). */
import fs from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const stack = globalThis.__TEST_STACK__;
  if (!stack) return;
  await Promise.all([stack.postgres.stop(), stack.redis.stop()]);
  if (process.env.KEEP_TEST_STACK === '1') console.log(`test stack kept in ${stack.dir}`);
  else fs.rmSync(stack.dir, { recursive: true, force: true });
}
