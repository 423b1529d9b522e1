/** Validates a Kubernetes object against the OpenAPI schema of its apiVersion and kind (kubernetes-models). */
import type { KubernetesObject } from '../offline';

type ModelClass = new (obj: unknown) => { validate(): void };

export function modelClassFor(apiVersion: string, kind: string): ModelClass {
  let group: Record<string, unknown>;
  try {
    group = require(`kubernetes-models/${apiVersion}`) as Record<string, unknown>;
  } catch {
    throw new Error(`kubernetes-models has no apiVersion ${apiVersion}`);
  }
  const model = group[kind];
  if (typeof model !== 'function') throw new Error(`kubernetes-models has no ${kind} in ${apiVersion}`);
  return model as ModelClass;
}

/** undefined when the object is valid, else the schema's message. */
export function schemaProblem(obj: KubernetesObject): string | undefined {
  try {
    new (modelClassFor(obj.apiVersion, obj.kind))(obj).validate();
    return undefined;
  } catch (e) {
    return `${obj.kind} ${obj.metadata?.name}: ${(e as Error).message}`;
  }
}
