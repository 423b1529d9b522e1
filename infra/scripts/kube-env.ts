/**
 * `make kube-env ENV=<stack>`: shell assignments of the stack's kubeconfig context and namespace, from its stack
 * file, for the runbook's commands: eval "$(make -s kube-env ENV=prod)" then kubectl --context "$CTX" -n "$NS" ….
 */
import { stackFile } from '../offline';

export function kubeEnv(stack: string): string {
  const { config } = stackFile(stack);
  // No context in the file: the current one, named explicitly so a later `kubectl config use-context` cannot move it.
  const context = config.kubeContext ?? '$(kubectl config current-context)';
  return `CTX="${context}"; NS="${config.namespace}"; export CTX NS`;
}

if (require.main === module) console.log(kubeEnv(process.argv[2] ?? ''));
