/**
 * `make port-forward ENV=<stage>`: the stage's Prometheus on the local port its stack file's prometheusUrl names,
 * through the stage's own kube context and namespace, so the gate and the watch reach it where they ask.
 */
import { spawnSync } from 'node:child_process';
import { PromoteError } from './errors';
import { readStackFile } from './stack-files';
import { Stage } from './stages';

/** The kubectl arguments; `service` and `port` are the bundled Prometheus Service's (infra/components/prometheus.ts). */
export function portForwardArgs(root: string, stage: Stage, service: { name: string; port: number }): string[] {
  const stack = readStackFile(root, stage);
  const url = new URL(stack.prometheusUrl);
  if (!['127.0.0.1', 'localhost'].includes(url.hostname)) {
    throw new PromoteError(
      `${stage}'s prometheusUrl ${stack.prometheusUrl} is not on this machine: nothing to port-forward (CI reaches it directly)`,
    );
  }
  const { kubeContext, namespace } = stack;
  const local = url.port || (url.protocol === 'https:' ? '443' : '80');
  return [
    ...(kubeContext ? ['--context', kubeContext] : []),
    '--namespace',
    namespace,
    'port-forward',
    `svc/${service.name}`,
    `${local}:${service.port}`,
  ];
}

/** Runs kubectl in the foreground until Ctrl-C. */
export function portForward(root: string, stage: Stage, service: { name: string; port: number }): void {
  const args = portForwardArgs(root, stage, service);
  console.log(`kubectl ${args.join(' ')}`);
  const run = spawnSync('kubectl', args, { stdio: 'inherit' });
  if (run.error) throw new PromoteError(`kubectl: ${run.error.message}`);
  if (run.status) throw new PromoteError(`kubectl port-forward exited ${run.status}`);
}
