/** Validates Kubernetes objects against the OpenAPI schema of their apiVersion and kind (kubernetes-models). */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { KubernetesObject } from '../offline';
import { staleCrdModels } from '../scripts/crd-models';

const WORKER = path.join(__dirname, 'kubernetes-schema-worker.mjs');

/** One message per invalid object (empty when all are valid), from the schemas of kubernetes-models. */
export function schemaProblems(objects: KubernetesObject[]): string[] {
  // The CRD models are generated, not committed: without them every CloudNativePG object would read as invalid.
  const stale = staleCrdModels();
  if (stale) throw new Error(`schema validation cannot run: ${stale}`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', WORKER], {
    input: JSON.stringify(objects),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0) throw new Error(`schema validation failed to run: ${run.stderr || run.error?.message}`);
  return JSON.parse(run.stdout) as string[];
}
