/**
 * `make manifests ENV=<stack>`: runs the program offline (the tests' runner, under mocks) and writes every
 * Kubernetes object it declares as YAML under out/manifests/<stack>/, for review and `kubectl diff -f`.
 * Secret values are redacted (the real ones exist only in the stack's state); dev's image digest is a stand-in
 * until `make up` builds and pushes the image. It then runs the cluster-semantics checks (infra/semantics) and
 * the policy rules of the stage over the objects and exits 1 on any problem.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { runOffline, STACKS, type KubernetesObject } from '../offline';
import { violations } from '../policies/rules';
import { clusterSemanticsProblems, stackFacts } from '../semantics';

/** Files are numbered in the order kubectl would need them. */
const KIND_ORDER = [
  'Namespace',
  'ServiceAccount',
  'Role',
  'RoleBinding',
  'NetworkPolicy',
  'ConfigMap',
  'Secret',
  'PersistentVolumeClaim',
  'Service',
  'StatefulSet',
  'Job',
  'Deployment',
  'CronJob',
];

function redacted(obj: KubernetesObject): KubernetesObject {
  if (obj.kind !== 'Secret') return obj;
  const hide = (data: unknown) =>
    data && typeof data === 'object' ? Object.fromEntries(Object.keys(data).map((k) => [k, '<redacted: set by pulumi up>'])) : data;
  return { ...obj, ...(obj.stringData ? { stringData: hide(obj.stringData) } : {}), ...(obj.data ? { data: hide(obj.data) } : {}) };
}

async function main(): Promise<void> {
  const stack = process.argv[2] ?? '';
  if (!(STACKS as readonly string[]).includes(stack)) {
    console.error(`manifests: unknown stack "${stack}"; one of ${STACKS.join(', ')}`);
    process.exit(2);
  }
  const dir = path.resolve(__dirname, '..', '..', 'out', 'manifests', stack);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const run = await runOffline(stack);
  const rank = (o: KubernetesObject) => (KIND_ORDER.indexOf(o.kind) + KIND_ORDER.length + 1) % (KIND_ORDER.length + 1);
  const objects = [...run.kubernetesObjects].sort((a, b) => rank(a) - rank(b) || a.metadata.name.localeCompare(b.metadata.name));
  objects.forEach((obj, i) => {
    const file = path.join(dir, `${String(i).padStart(2, '0')}-${obj.kind.toLowerCase()}-${obj.metadata.name}.yaml`);
    fs.writeFileSync(file, `# Declared by the ${stack} stack (rendered offline by make manifests).\n${stringify(redacted(obj))}`);
  });
  console.log(`manifests: ${run.kubernetesObjects.length} objects of stack ${stack} → ${path.relative(process.cwd(), dir)}/`);
  // What a cluster would make of the objects, and what the policy pack of this stage refuses: found now, exit 1.
  const problems = [
    ...clusterSemanticsProblems(run.kubernetesObjects, stackFacts(stack, run.file.config)),
    ...violations(run.kubernetesObjects, stack, { releaseSteps: false }),
  ];
  // Release steps (e.g. digest-pinned third-party images in prod: make pin-images) are listed here, refused by
  // `pulumi up` itself.
  const found = new Set(problems);
  const atDeploy = violations(run.kubernetesObjects, stack).filter((v) => !found.has(v));
  if (atDeploy.length)
    console.warn(`manifests: pulumi up of ${stack} would refuse, until fixed:\n${atDeploy.map((p) => `  - ${p}`).join('\n')}`);
  if (problems.length) {
    console.error(`manifests: ${problems.length} problem(s) in stack ${stack}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    process.exitCode = 1;
  } else console.log(`manifests: cluster-semantics checks and the policy rules of every stage hold for stack ${stack}`);
  const note =
    stack === 'dev'
      ? ' (a stand-in digest: make up builds the real one)'
      : run.file.config.image.kind === 'never-promoted'
        ? ` (a stand-in: ${stack} was never promoted, so make up refuses it until make promote pins an image)`
        : '';
  console.log(`manifests: image ${String(run.outputs.imageRef)}${note}`);
}

main().catch((e: unknown) => {
  console.error(`manifests: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
