// Validates Kubernetes objects against the OpenAPI schemas of kubernetes-models (and the CRD models of
// @kubernetes-models/* for third-party API groups). The models are ES modules only, which jest's CommonJS
// runtime cannot load, so kubernetes-schema.ts runs this file in a plain Node process (with tsx: CloudNativePG's
// models are generated TypeScript, infra/crds/models, from the vendored CRDs; infra/scripts/crd-models.ts).
// stdin: a JSON array of objects. stdout: a JSON array of problems (one string per invalid object).
import { readFileSync } from 'node:fs';
import { URL } from 'node:url';

const CRD_MODELS = new URL('../crds/models/', import.meta.url);

/** API group → the npm package that models it (the core and built-in groups are in kubernetes-models). */
const PACKAGES = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
  'cert-manager.io': '@kubernetes-models/cert-manager',
  'argoproj.io': '@kubernetes-models/argo-rollouts',
  'postgresql.cnpg.io': CRD_MODELS,
  'barmancloud.cnpg.io': CRD_MODELS,
};

async function modelFor(apiVersion, kind) {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  const pkg = PACKAGES[group] ?? 'kubernetes-models';
  let mod;
  try {
    mod = await import(pkg === CRD_MODELS ? new URL(`${apiVersion}/index.ts`, CRD_MODELS).href : `${pkg}/${apiVersion}`);
  } catch {
    throw new Error(`${pkg} has no apiVersion ${apiVersion}`);
  }
  if (typeof mod[kind] !== 'function') throw new Error(`${pkg} has no ${kind} in ${apiVersion}`);
  return mod[kind];
}

const objects = JSON.parse(readFileSync(0, 'utf8'));
const problems = [];
for (const obj of objects) {
  try {
    const Model = await modelFor(obj.apiVersion, obj.kind);
    new Model(obj).validate();
  } catch (e) {
    problems.push(`${obj.kind} ${obj.metadata?.name}: ${e.message}`);
  }
}
process.stdout.write(JSON.stringify(problems));
