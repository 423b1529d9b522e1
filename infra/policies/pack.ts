/**
 * The policies of the pack `make preview` and `make up` apply, built from the rules of rules.ts (the same ones
 * `make manifests` and the offline tests run) and from the Pod Security check of infra/semantics: a pod the
 * cluster would refuse is refused at deploy, before the API server accepts a Deployment whose pods never start.
 */
import type { Policies, PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs } from '@pulumi/policy';
import type { KubernetesObject } from '../kube/model';
import { withCnpgManaged } from '../semantics/cnpg';
import { podSecurityProblems } from '../semantics/pod-security';
import { enforcementIn, rules, stackRules, type EnforcementLevel, type Rule, type StackRule } from './rules';

/** The stack a resource belongs to, from its URN (`urn:pulumi:<stack>::<project>::<type>::<name>`). */
export function stackOfUrn(urn: string): string | undefined {
  return /^urn:pulumi:([^:]+)::/.exec(urn)?.[1];
}

/** The Kubernetes object a resource declares, or undefined for other resources (components, providers). */
export function kubernetesObject(resource: Pick<PolicyResource, 'type' | 'props'>): KubernetesObject | undefined {
  if (!resource.type.startsWith('kubernetes:') || typeof resource.props.metadata !== 'object') return undefined;
  const kind = resource.type.slice(resource.type.lastIndexOf(':') + 1);
  return { kind, ...resource.props } as KubernetesObject;
}

export const POD_SECURITY: StackRule = {
  name: 'pods-pass-pod-security',
  description:
    'Every pod (CloudNativePG instances included) passes the Pod Security level its namespace enforces; the cluster would refuse it (infra/semantics/pod-security.ts).',
  check: (objects) => podSecurityProblems(withCnpgManaged(objects)),
};

function stackPolicy(rule: StackRule) {
  return {
    name: rule.name,
    description: rule.description,
    enforcementLevel: 'mandatory' as const,
    validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
      const objects = args.resources.flatMap((r) => kubernetesObject(r) ?? []);
      for (const message of rule.check(objects)) reportViolation(message);
    },
  };
}

/**
 * A rule as the policy of one enforcement level: it reports a resource only when the resource's stack (read from
 * its URN) enforces the rule at that level. A rule mandatory only in some stacks thus becomes two policies.
 */
function resourcePolicy(rule: Rule, level: EnforcementLevel) {
  return {
    name: level === 'mandatory' ? rule.name : `${rule.name}-advisory`,
    description: rule.description,
    enforcementLevel: level,
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
      const obj = kubernetesObject(args);
      if (!obj || enforcementIn(rule, stackOfUrn(args.urn)) !== level) return;
      for (const message of rule.check(obj)) reportViolation(message);
    },
  };
}

export function packPolicies(): Policies {
  return [
    ...[...stackRules, POD_SECURITY].map(stackPolicy),
    ...rules.flatMap((rule) => [
      resourcePolicy(rule, 'mandatory'),
      ...(rule.mandatoryIn === undefined ? [] : [resourcePolicy(rule, 'advisory')]),
    ]),
  ];
}
