/**
 * Validates Kubernetes objects against the OpenAPI schema of their apiVersion and kind (kubernetes-models).
 * kubernetes-models 5 is ESM only ("import" exports, no "require"), which jest's CommonJS module system cannot
 * load; so the validation runs in a child Node process, all objects of a stack in one go.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import type { KubernetesObject } from '../offline';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

// Reads a JSON array of objects on stdin, prints a JSON array of problems (null for a valid object).
const VALIDATOR = `
const { readFileSync } = await import('node:fs');
const objects = JSON.parse(readFileSync(0, 'utf8'));
const problems = [];
for (const obj of objects) {
  const where = obj.kind + ' ' + (obj.metadata && obj.metadata.name);
  let group;
  try {
    group = await import('kubernetes-models/' + obj.apiVersion);
  } catch {
    problems.push(where + ': kubernetes-models has no apiVersion ' + obj.apiVersion);
    continue;
  }
  if (typeof group[obj.kind] !== 'function') {
    problems.push(where + ': kubernetes-models has no ' + obj.kind + ' in ' + obj.apiVersion);
    continue;
  }
  try {
    new group[obj.kind](obj).validate();
    problems.push(null);
  } catch (e) {
    problems.push(where + ': ' + e.message);
  }
}
process.stdout.write(JSON.stringify(problems));
`;

/** One entry per object: undefined when it is valid, else the schema's message naming the object. */
export function schemaProblems(objects: KubernetesObject[]): (string | undefined)[] {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', VALIDATOR], {
    cwd: REPO_ROOT,
    input: JSON.stringify(objects),
    maxBuffer: 64 * 1024 * 1024,
  });
  return (JSON.parse(out.toString()) as (string | null)[]).map((p) => p ?? undefined);
}
