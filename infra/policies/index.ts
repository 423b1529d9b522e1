/**
 * The policy pack `make preview` and `make up` apply (`pulumi … --policy-pack infra/policies`).
 * It wraps the rule functions of rules.ts, the same ones the offline tests run on every declared object.
 */
import { PolicyPack, type ResourceValidationArgs } from '@pulumi/policy';
import { rules, stackOf, type KubernetesObject } from './rules';

/** The Kubernetes object a resource declares, or undefined for other resources. */
function kubernetesObject(args: ResourceValidationArgs): KubernetesObject | undefined {
  if (!args.type.startsWith('kubernetes:')) return undefined;
  const kind = args.type.slice(args.type.lastIndexOf(':') + 1);
  return { kind, ...args.props } as KubernetesObject;
}

new PolicyPack('event-stack', {
  enforcementLevel: 'mandatory',
  policies: rules.map((rule) => ({
    name: rule.name,
    description: rule.description,
    validateResource: (args, reportViolation) => {
      const obj = kubernetesObject(args);
      if (obj) for (const message of rule.check(obj, { stack: stackOf(args.urn) })) reportViolation(message);
    },
  })),
});
