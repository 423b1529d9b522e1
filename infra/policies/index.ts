/**
 * The policy pack `make preview` and `make up` apply (`pulumi … --policy-pack infra/policies`).
 * It wraps the rule functions of rules.ts, the same ones the offline tests run on every declared object.
 */
import { PolicyPack, type ResourceValidationArgs, type StackValidationArgs } from '@pulumi/policy';
import { isMandatory, rules, stackOfUrn, stackRules, type KubernetesObject } from './rules';

/** The Kubernetes object a resource declares, or undefined for other resources. */
function kubernetesObject(args: ResourceValidationArgs): KubernetesObject | undefined {
  if (!args.type.startsWith('kubernetes:')) return undefined;
  const kind = args.type.slice(args.type.lastIndexOf(':') + 1);
  return { kind, ...args.props } as KubernetesObject;
}

// A rule mandatory only in some stacks becomes two policies: the mandatory one reports in those stacks
// (the stack is read from each resource's URN), the advisory one everywhere else.
new PolicyPack('event-stack', {
  enforcementLevel: 'mandatory',
  policies: [
    ...stackRules.map((rule) => ({
      name: rule.name,
      description: rule.description,
      enforcementLevel: 'mandatory' as const,
      validateStack: (args: StackValidationArgs, reportViolation: (message: string) => void) => {
        const objects = args.resources.flatMap((r) => {
          const obj = kubernetesObject(r as unknown as ResourceValidationArgs);
          return obj ? [obj] : [];
        });
        for (const message of rule.check(objects)) reportViolation(message);
      },
    })),
    ...rules.flatMap((rule) =>
      (['mandatory', 'advisory'] as const)
        .filter((level) => level === 'mandatory' || rule.mandatoryIn !== undefined)
        .map((level) => ({
          name: level === 'mandatory' ? rule.name : `${rule.name}-advisory`,
          description: rule.description,
          enforcementLevel: level,
          validateResource: (args: ResourceValidationArgs, reportViolation: (message: string) => void) => {
            const obj = kubernetesObject(args);
            if (!obj || isMandatory(rule, stackOfUrn(args.urn)) !== (level === 'mandatory')) return;
            for (const message of rule.check(obj)) reportViolation(message);
          },
        })),
    ),
  ],
});
