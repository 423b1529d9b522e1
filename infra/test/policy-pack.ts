/**
 * Runs the policies of the pack (infra/policies/pack.ts) as `pulumi up` would on a stack's objects: each
 * resource policy on every object (its URN names the stack), each stack policy on all of them.
 */
import type {
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from '@pulumi/policy';
import type { KubernetesObject } from '../kube/model';
import { packPolicies } from '../policies/pack';

export interface PackReport {
  policy: string;
  level: 'mandatory' | 'advisory';
  message: string;
}

const asResource = (obj: KubernetesObject, stack: string) => {
  const type = `kubernetes:${obj.apiVersion}:${obj.kind}`;
  return { type, props: obj, urn: `urn:pulumi:${stack}::event-stack::${type}::${obj.metadata.name}`, name: obj.metadata.name };
};

export async function packReports(objects: KubernetesObject[], stack: string): Promise<PackReport[]> {
  const reports: PackReport[] = [];
  for (const policy of packPolicies()) {
    const report = (message: string) =>
      reports.push({ policy: policy.name, level: policy.enforcementLevel as PackReport['level'], message });
    if ('validateStack' in policy) {
      const args = { resources: objects.map((o) => asResource(o, stack) as unknown as PolicyResource) };
      await (policy as StackValidationPolicy).validateStack(args as StackValidationArgs, report);
    } else {
      const validate = (policy as ResourceValidationPolicy).validateResource;
      for (const obj of objects)
        for (const v of [validate ?? []].flat()) await v(asResource(obj, stack) as unknown as ResourceValidationArgs, report);
    }
  }
  return reports;
}

/** The reports of one enforcement level, as "policy: message". */
export const at = (reports: PackReport[], level: PackReport['level']) =>
  reports.filter((r) => r.level === level).map((r) => `${r.policy}: ${r.message}`);
