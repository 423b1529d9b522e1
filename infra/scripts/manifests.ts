/**
 * `make manifests ENV=<stack>`: runs the program offline (the tests' runner, under mocks) and writes every
 * Kubernetes object it declares as YAML under out/manifests/<stack>/, for review and `kubectl diff -f`.
 * Secret values are redacted (the real ones exist only in the stack's state); dev's image digest is a stand-in
 * until `make up` builds and pushes the image.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { runOffline, stackFileConfig, STACKS, type KubernetesObject } from '../offline';
import { NEVER_PROMOTED } from '../stack-schema';

/** Files are numbered in the order kubectl would need them. */
const KIND_ORDER = [
  'Namespace',
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
  const note =
    stack === 'dev'
      ? ' (a stand-in digest: make up builds the real one)'
      : stackFileConfig(stack)['event-stack:image'] === NEVER_PROMOTED
        ? ` (a stand-in: ${stack} was never promoted, so make up refuses it until make promote pins an image)`
        : '';
  console.log(`manifests: image ${String(run.outputs.imageRef)}${note}`);
}

main().catch((e: unknown) => {
  console.error(`manifests: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
