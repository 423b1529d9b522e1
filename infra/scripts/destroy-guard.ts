/**
 * `make destroy` asks this first: a stack whose database and archive are retained (event-stack:postgres.retain)
 * holds data a destroy must not take by accident, so it is refused unless ALLOW_DATA_LOSS=1 says it is meant.
 * (Pulumi itself refuses to delete protected resources; this says why, before anything else is deleted.)
 */
import { stackFile } from '../offline';
import type { StackFileConfig } from '../stack-schema';

export function destroyRefusal(stack: string, config: StackFileConfig, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (config.postgres.external || !config.postgres.retain || env.ALLOW_DATA_LOSS === '1') return undefined;
  return [
    `destroy: stack ${stack} retains its database and WAL archive (event-stack:postgres.retain: true); refusing.`,
    'Take a backup first if the data matters. To delete everything else and leave the Cluster and ObjectStore in the',
    `cluster: make destroy ENV=${stack} ALLOW_DATA_LOSS=1 (protected resources must be unprotected: pulumi state unprotect).`,
  ].join('\n');
}

if (require.main === module) {
  const stack = process.argv[2] ?? '';
  const refusal = destroyRefusal(stack, stackFile(stack).config);
  if (refusal) {
    console.error(refusal);
    process.exit(1);
  }
}
