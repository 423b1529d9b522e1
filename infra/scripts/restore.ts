/**
 * `make restore ENV=<stack> TARGET_TIME=<RFC 3339>`: point-in-time recovery of an in-cluster database, rendered and
 * checked offline. The stack is run with event-stack:postgres.recovery.targetTime set: a new CloudNativePG Cluster
 * bootstrapped from the WAL archive up to that time (the old one is left alone), the app pointed at it. Its objects
 * are written to out/restore/<stack>/, validated against the vendored CRDs, and the cluster-semantics checks (Pod
 * Security of the operator's pods, NetworkPolicy flows, selectors) and the policy pack run over the whole stack.
 * Exits 1 on any problem. Applying it is a stack change: docs/deploy.md "Point-in-time recovery".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { runOffline, stackFileConfig, STACKS } from '../offline';
import { violations } from '../policies/rules';
import { clusterSemanticsProblems, stackFacts } from '../semantics';
import { schemaProblems } from '../test/kubernetes-schema';

async function main(): Promise<void> {
  const [stack = '', targetTime = ''] = process.argv.slice(2);
  if (!(STACKS as readonly string[]).includes(stack)) throw new Error(`unknown stack "${stack}"; one of ${STACKS.join(', ')}`);
  const postgres = JSON.parse(stackFileConfig(stack)['event-stack:postgres'] ?? '{}') as { external?: boolean };
  if (postgres.external)
    throw new Error(`stack ${stack} uses a managed database: restore it with the provider's point-in-time recovery (docs/deploy.md)`);
  // The schema checks the time (RFC 3339) and names the key when it is wrong.
  const run = await runOffline(stack, {
    set: { 'event-stack:postgres': JSON.stringify({ ...postgres, recovery: { targetTime } }) },
  });
  const cnpg = run.kubernetesObjects.filter((o) => o.apiVersion.endsWith('cnpg.io/v1'));
  const dir = path.resolve(__dirname, '..', '..', 'out', 'restore', stack);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const o of cnpg) fs.writeFileSync(path.join(dir, `${o.kind.toLowerCase()}-${o.metadata.name}.yaml`), stringify(o));
  const cluster = cnpg.find((o) => o.kind === 'Cluster')!;
  console.log(`restore: Cluster ${cluster.metadata.name} recovers stack ${stack} to ${targetTime} → ${path.relative(process.cwd(), dir)}/`);
  const problems = [
    ...schemaProblems(cnpg),
    ...clusterSemanticsProblems(run.kubernetesObjects, stackFacts(stack, run.file.config)),
    ...violations(run.kubernetesObjects),
  ];
  if (problems.length) {
    console.error(`restore: ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    process.exitCode = 1;
    return;
  }
  console.log('restore: the CRDs, the cluster-semantics checks (Pod Security, network flows) and the policy rules hold');
  console.log(
    `restore: to run it, set event-stack:postgres.recovery.targetTime: '${targetTime}' in Pulumi.${stack}.yaml and make up ENV=${stack}`,
  );
}

main().catch((e: unknown) => {
  console.error(`restore: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
