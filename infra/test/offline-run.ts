/** The offline run of the Pulumi program, as the infra tests call it. */
import type { OfflineRun, OfflineRunError, RunOptions } from '../offline';

/** Fresh @pulumi/pulumi and program modules for every run: their runtime state is module-level. */
export async function runIsolated(stack: string, options?: RunOptions): Promise<OfflineRun> {
  let result: OfflineRun | undefined;
  await jest.isolateModulesAsync(async () => {
    const { runOffline } = require('../offline') as typeof import('../offline');
    result = await runOffline(stack, options);
  });
  return result!;
}

/** The error of a run that must fail; a run that succeeds fails the test. */
export async function runFailure(stack: string, options: RunOptions): Promise<OfflineRunError> {
  try {
    await runIsolated(stack, options);
  } catch (e) {
    if (e instanceof Error && e.name === 'OfflineRunError') return e as OfflineRunError;
    throw e;
  }
  throw new Error(`the ${stack} program ran although it should have failed`);
}
