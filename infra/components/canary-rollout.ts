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
import { labelsFor, selectorFor } from './workload';

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
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export class CanaryRollout extends pulumi.ComponentResource {
  readonly stableService: pulumi.Output<string>;
  readonly canaryService: pulumi.Output<string>;

  /** The Kubernetes objects are created as its children: give the provider in `opts`, they inherit it. */
  constructor(name: string, args: CanaryRolloutArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:app:CanaryRollout', name, {}, opts);
    const stable = this.sideService(name, args, 'stable');
    const canary = this.sideService(name, args, 'canary');
    const analysis = this.analysisTemplate(name, args);
    this.rollout(name, args, { stable, canary, analysis });
    if (args.ownPrometheus) this.prometheusFromController(name, args, args.ownPrometheus);

    this.stableService = stable.metadata.name;
    this.canaryService = canary.metadata.name;
    this.registerOutputs({ stableService: this.stableService, canaryService: this.canaryService });
  }

  /** The Service of one side. The controller narrows its selector to that side's pod-template-hash; server-side apply leaves that key to it. */
  private sideService(name: string, args: CanaryRolloutArgs, side: 'stable' | 'canary'): k8s.core.v1.Service {
    return new k8s.core.v1.Service(
      `${name}-${side}`,
      {
        metadata: { name: `${args.name}-${side}`, namespace: args.namespace, labels: labelsFor(args.name) },
        spec: { selector: args.selector, ports: [{ name: args.port.name, port: 80, targetPort: args.port.targetPort }] },
      },
      { parent: this },
    );
  }

  /** What each analysis step runs: the canary's own traffic, error ratio and latency in the stage's Prometheus. */
  private analysisTemplate(name: string, args: CanaryRolloutArgs): k8s.apiextensions.CustomResource {
    return new k8s.apiextensions.CustomResource(
      `${name}-analysis`,
      {
        apiVersion: ROLLOUT_API_VERSION,
        kind: 'AnalysisTemplate',
        metadata: { name: `${args.name}-canary`, namespace: args.namespace, labels: labelsFor(args.name) },
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
      { parent: this },
    );
  }

  /** The Rollout: the workload's pod template, moved to a new revision by weights, each step baked and analysed. */
  private rollout(
    name: string,
    args: CanaryRolloutArgs,
    uses: { stable: k8s.core.v1.Service; canary: k8s.core.v1.Service; analysis: k8s.apiextensions.CustomResource },
  ): k8s.apiextensions.CustomResource {
    const analysisStep = {
      analysis: {
        templates: [{ templateName: uses.analysis.metadata.name }],
        args: [{ name: CANARY_HASH_ARG, valueFrom: { podTemplateHashValue: 'Latest' } }],
      },
    };
    return new k8s.apiextensions.CustomResource(
      `${name}-rollout`,
      {
        apiVersion: ROLLOUT_API_VERSION,
        kind: 'Rollout',
        metadata: { name: args.name, namespace: args.namespace, labels: args.labels },
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
              stableService: uses.stable.metadata.name,
              canaryService: uses.canary.metadata.name,
              // Capacity never drops below the stable count while the canary comes up.
              maxSurge: 1,
              maxUnavailable: 0,
              steps: CANARY_WEIGHTS.flatMap((setWeight) => [{ setWeight }, { pause: { duration: BAKE_BEFORE_ANALYSIS } }, analysisStep]),
            },
          },
        },
      },
      { parent: this, dependsOn: args.dependsOn },
    );
  }

  /** Our own Prometheus admits the Argo Rollouts controller, which runs the analysis queries. */
  private prometheusFromController(name: string, args: CanaryRolloutArgs, prometheus: { name: string; port: number }): void {
    new k8s.networking.v1.NetworkPolicy(
      `${name}-prometheus-from-rollouts-controller`,
      {
        metadata: { name: 'prometheus-from-rollouts-controller', namespace: args.namespace, labels: labelsFor('network-policy') },
        spec: {
          podSelector: { matchLabels: selectorFor(prometheus.name) },
          policyTypes: ['Ingress'],
          ingress: [
            {
              from: [
                {
                  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ROLLOUTS_CONTROLLER.namespace } },
                  podSelector: { matchLabels: ROLLOUTS_CONTROLLER.labels },
                },
              ],
              ports: [{ protocol: 'TCP', port: prometheus.port }],
            },
          ],
        },
      },
      { parent: this },
    );
  }
}
