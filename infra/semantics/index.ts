/**
 * The offline cluster-semantics checks: what a real cluster would make of a stack's rendered objects, checked
 * without one. Each check is a function from the objects to problem messages (empty = holds), so objects that
 * other components add (exporters, backups…) are checked as soon as the program declares them.
 */
import type { KubernetesObject } from '../kube/model';
import { stackFile } from '../offline';
import type { StackFileConfig } from '../stack-schema';
import { withCnpgManaged } from './cnpg';
import { discoveryProblems } from './discovery';
import { exposureProblems } from './exposure';
import { networkProblems } from './network';
import { operatorDiscoveryProblems } from './operator';
import { podSecurityProblems } from './pod-security';
import { rolloutProblems } from './rollout';
import { schedulingProblems } from './scheduling';
import { commandLineSecretProblems, portProblems, referenceProblems, serviceSelectionProblems } from './wiring';

export interface StackFacts {
  /** Namespace of the ingress controller (event-stack:ingress.namespace). */
  ingressNamespace: string;
  /** Operator mode: the namespace of the Prometheus Operator's Prometheus (event-stack:monitoring.namespace). */
  operatorNamespace?: string;
  /** The addresses outside the namespace the stack's pods may reach (event-stack:egress). */
  egress: StackFileConfig['egress'];
  /** Where the CloudNativePG operator runs (event-stack:postgres.operatorNamespace), for an in-cluster database. */
  cnpgOperatorNamespace?: string;
}

/** The facts of a stack file the checks need. */
export function stackFacts(stack: string, config: StackFileConfig = stackFile(stack).config): StackFacts {
  return {
    ingressNamespace: config.ingress.namespace,
    operatorNamespace: config.monitoring.mode === 'operator' ? config.monitoring.namespace : undefined,
    egress: config.egress,
    cnpgOperatorNamespace: config.postgres.external ? undefined : config.postgres.operatorNamespace,
  };
}

export const CHECKS = {
  'services select pods': (o: KubernetesObject[]) => serviceSelectionProblems(o),
  'references resolve': (o: KubernetesObject[]) => referenceProblems(o),
  'ports are declared': (o: KubernetesObject[]) => portProblems(o),
  'network flows are exactly the intended ones': (o: KubernetesObject[], f: StackFacts) => networkProblems(o, f),
  'discovery keeps unready pods': (o: KubernetesObject[]) => [...discoveryProblems(o), ...operatorDiscoveryProblems(o)],
  'exposure and TLS': (o: KubernetesObject[]) => exposureProblems(o),
  'no secret on a command line': (o: KubernetesObject[]) => commandLineSecretProblems(o),
  'pods pass the Pod Security level of their namespace': (o: KubernetesObject[]) => podSecurityProblems(o),
  'disruption budgets, autoscaling and spread hold': (o: KubernetesObject[]) => schedulingProblems(o),
  'canary releases are wired': (o: KubernetesObject[]) => rolloutProblems(o),
} as const;

export type CheckName = keyof typeof CHECKS;

/** Every problem of every check, as "check: message"; operators' objects (CloudNativePG's pods and Services) included. */
export function clusterSemanticsProblems(objects: KubernetesObject[], facts: StackFacts): string[] {
  const all = withCnpgManaged(objects);
  return (Object.entries(CHECKS) as [CheckName, (o: KubernetesObject[], f: StackFacts) => string[]][]).flatMap(([name, check]) =>
    check(all, facts).map((m) => `${name}: ${m}`),
  );
}
