/** The harness's program starter (tools/stack/process.ts), on real child processes. */
import fs from 'node:fs';
import path from 'node:path';
import { startAndAwait } from '../stack/process';

test('when a program exits before it is ready, then starting it fails at once with its exit code and log, not after the timeout', async () => {
  const dir = fs.mkdtempSync(path.join(process.env.TEST_STACK_DIR as string, 'process-'));
  const log = path.join(dir, 'early.log');
  const start = startAndAwait('early', '/bin/sh', ['-c', 'echo "FATAL: bad setting"; exit 3'], log, async () => false, {
    timeoutMs: 60000,
  });
  await expect(start).rejects.toThrow(/^early exited during start-up \(exit code 3\)\n--- .*early\.log ---\nFATAL: bad setting$/);
});
