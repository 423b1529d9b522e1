/**
 * A canary release of a workload through Argo Rollouts (the controller is a cluster prerequisite, docs/deploy.md):
 * a Rollout that holds the pod template the Deployment would hold, moves 10 % and then half of the pods to a new
 * template, and at each step runs an AnalysisTemplate over the canary pods' own traffic in the stage's
 * Prometheus; a failed analysis aborts the rollout and the stable pods take everything back. Stable and canary
 * Services address each side (the controller adds rollouts-pod-template-hash to their selectors).
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { canaryAnalysisMetrics, CANARY_HASH_ARG, ROLLOUT_API_VERSION, ROLLOUTS_CONTROLLER, type CanaryThresholds } from './canary';
import { childOptions, labelsFor, selectorFor } from './workload';

/** The Service the Prometheus Operator creates in front of its Prometheus pods (port 9090), in their namespace. */
export const OPERATOR_PROMETHEUS_SERVICE = 'prometheus-operated';
/** The pause before each analysis: long enough for the canary to fill the analysis window with its own traffic. */
const BAKE_BEFORE_ANALYSIS = '5m';
/** The canary's share of the pods at each step; after the last, all of them. */
const CANARY_WEIGHTS = [10, 50] as const;

export interface CanaryRolloutArgs {
  namespace: pulumi.Input<string>;
  /** The Rollout's name; the Services are `<name>-stable` and `<name>-canary`. */
  name: string;
  labels: Record<string, pulumi.Input<string>>;
  selector: Record<string, string>;
  /** Absent with an autoscaler, which then owns the count. */
  replicas?: number;
  /** How long a new pod stays Ready before it counts as available (as the Deployment's). */
  minReadySeconds: number;
  template: k8s.types.input.core.v1.PodTemplateSpec;
  /** The port the Services expose (80 → the pods' named port). */
  port: { name: string; targetPort: string };
  thresholds: CanaryThresholds;
  /** The Prometheus the analysis asks, as the controller reaches it (http://host:port). */
  prometheusAddress: string;
  /** This stack's own Prometheus, which must then admit the controller; absent when another one is asked. */
  ownPrometheus?: { name: string; port: number };
  provider: k8s.Provider;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export class CanaryRollout extends pulumi.ComponentResource {
  readonly stableService: pulumi.Output<string>;
  readonly canaryService: pulumi.Output<string>;

  constructor(name: string, args: CanaryRolloutArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:app:CanaryRollout', name, {}, opts);
    const o = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, args.provider, extra);
    const ns = args.namespace;

    // The controller narrows each selector to one side's pod-template-hash; server-side apply leaves that key to it.
    const service = (side: 'stable' | 'canary') =>
      new k8s.core.v1.Service(
        `${name}-${side}`,
        {
          metadata: { name: `${args.name}-${side}`, namespace: ns, labels: labelsFor(args.name) },
          spec: { selector: args.selector, ports: [{ name: args.port.name, port: 80, targetPort: args.port.targetPort }] },
        },
        o(),
      );
    const stable = service('stable');
    const canary = service('canary');

    const analysis = new k8s.apiextensions.CustomResource(
      `${name}-analysis`,
      {
        apiVersion: ROLLOUT_API_VERSION,
        kind: 'AnalysisTemplate',
        metadata: { name: `${args.name}-canary`, namespace: ns, labels: labelsFor(args.name) },
        spec: {
          args: [{ name: CANARY_HASH_ARG }],
          metrics: canaryAnalysisMetrics(args.name, args.thresholds).map((m) => ({
            name: m.name,
            // Three measurements a minute apart; one failed measurement fails the step, one inconclusive pauses it.
            interval: '1m',
            count: 3,
            failureLimit: 0,
            inconclusiveLimit: 0,
            successCondition: m.successCondition,
            failureCondition: m.failureCondition,
            provider: { prometheus: { address: args.prometheusAddress, query: m.query } },
          })),
        },
      },
      o(),
    );

    const analysisStep = {
      analysis: {
        templates: [{ templateName: analysis.metadata.name }],
        args: [{ name: CANARY_HASH_ARG, valueFrom: { podTemplateHashValue: 'Latest' } }],
      },
    };
    new k8s.apiextensions.CustomResource(
      `${name}-rollout`,
      {
        apiVersion: ROLLOUT_API_VERSION,
        kind: 'Rollout',
        metadata: { name: args.name, namespace: ns, labels: args.labels },
        spec: {
          replicas: args.replicas,
          selector: { matchLabels: args.selector },
          template: args.template,
          revisionHistoryLimit: 3,
          minReadySeconds: args.minReadySeconds,
          // Pods that never become ready abort the rollout as a failed analysis would, instead of waiting forever.
          progressDeadlineSeconds: 600,
          progressDeadlineAbort: true,
          strategy: {
            canary: {
              stableService: stable.metadata.name,
              canaryService: canary.metadata.name,
              // Capacity never drops below the stable count while the canary comes up.
              maxSurge: 1,
              maxUnavailable: 0,
              steps: CANARY_WEIGHTS.flatMap((setWeight) => [{ setWeight }, { pause: { duration: BAKE_BEFORE_ANALYSIS } }, analysisStep]),
            },
          },
        },
      },
      o({ dependsOn: args.dependsOn }),
    );

    if (args.ownPrometheus)
      new k8s.networking.v1.NetworkPolicy(
        `${name}-prometheus-from-rollouts-controller`,
        {
          metadata: { name: 'prometheus-from-rollouts-controller', namespace: ns, labels: labelsFor('network-policy') },
          spec: {
            podSelector: { matchLabels: selectorFor(args.ownPrometheus.name) },
            policyTypes: ['Ingress'],
            ingress: [
              {
                from: [
                  {
                    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ROLLOUTS_CONTROLLER.namespace } },
                    podSelector: { matchLabels: ROLLOUTS_CONTROLLER.labels },
                  },
                ],
                ports: [{ protocol: 'TCP', port: args.ownPrometheus.port }],
              },
            ],
          },
        },
        o(),
      );

    this.stableService = stable.metadata.name;
    this.canaryService = canary.metadata.name;
    this.registerOutputs({ stableService: this.stableService, canaryService: this.canaryService });
  }
}
