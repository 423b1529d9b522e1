/**
 * The policy pack `make preview` and `make up` apply (`pulumi … --policy-pack infra/policies`): the policies of
 * pack.ts, the same rule functions the offline tests and `make manifests` run on every declared object.
 */
import { PolicyPack } from '@pulumi/policy';
import { packPolicies } from './pack';

new PolicyPack('event-stack', { enforcementLevel: 'mandatory', policies: packPolicies() });
