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

/**
 * The Kubernetes objects of a run that are not managed by the stack's one provider (its kubeconfig context and
 * namespace), e.g. by an engine default provider that would reach whatever cluster the ambient kubeconfig names.
 */
export function objectsOutsideStackProvider(run: OfflineRun): string[] {
  const providers = run.resources.filter((r) => r.type === 'pulumi:providers:kubernetes');
  if (providers.length !== 1) return [`${providers.length} Kubernetes providers declared, not 1`];
  const [stackProvider] = providers;
  const namespace = run.file.config.namespace;
  if (stackProvider!.inputs.namespace !== namespace) return [`the provider's namespace is not the stack's ${namespace}`];
  return run.resources
    .filter((r) => r.type.startsWith('kubernetes:') && r.options.provider !== stackProvider!.name)
    .map((r) => `${r.type} ${r.name}: ${r.options.provider || 'a default provider'}`);
}
