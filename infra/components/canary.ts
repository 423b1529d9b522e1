/**
 * The plain facts of a canary release (no Pulumi), shared by the Rollout component, the cluster-semantics checks
 * and the tests: where the Argo Rollouts controller runs, and what a canary is judged on. The judgement is a set
 * of Argo Rollouts metrics: the canary pods' own API traffic, their availability error ratio and their share of
 * requests slower than the latency SLO's threshold, each query built by the monitoring contract's builders
 * (monitoring/src/promql.ts) narrowed to the canary's pods. The Rollout component renders them into an
 * AnalysisTemplate; the tests evaluate the very same queries and conditions on a real Prometheus.
 */
import { apiRequestCount, availabilityErrorRatio, errorBudget, latencyErrorRatio, SLO } from '../../monitoring/src';

/** The namespace and pod labels of the Argo Rollouts controller as its install manifests create them. */
export const ROLLOUTS_CONTROLLER = { namespace: 'argo-rollouts', labels: { 'app.kubernetes.io/name': 'argo-rollouts' } };
export const ROLLOUT_API_VERSION = 'argoproj.io/v1alpha1';

/** The analysis argument Argo fills with the canary's pod-template-hash (valueFrom.podTemplateHashValue: Latest). */
export const CANARY_HASH_ARG = 'canary-pod-template-hash';
/** How Argo writes that argument into a query: replaced before the query reaches Prometheus. */
export const CANARY_HASH_PLACEHOLDER = `{{args.${CANARY_HASH_ARG}}}`;
/** Each measurement looks back this far: the pause before an analysis step lets the canary fill it. */
export const ANALYSIS_WINDOW = '5m';
export interface CanaryThresholds {
  /** Highest share of the canary's API requests answered with a 5xx. */
  maxErrorRatio: number;
  /** Highest share of the canary's API requests slower than the latency SLO's threshold. */
  maxLatencyErrorRatio: number;
  /** API requests the canary pods must have answered within the window before their ratios mean anything. */
  minRequests: number;
}

/**
 * The stage's promotion bar (`event-stack:promotion`), applied to the canary: the version must meet in this stage
 * what it must meet to leave it, the least traffic that can judge it included.
 */
export function canaryThresholds(promotion: { maxErrorRatio: number; maxBurnRate: number; minRequests: number }): CanaryThresholds {
  return {
    maxErrorRatio: promotion.maxErrorRatio,
    maxLatencyErrorRatio: +(errorBudget(SLO.latency.objective) * promotion.maxBurnRate).toFixed(6),
    minRequests: promotion.minRequests,
  };
}

/**
 * The canary's pods, as Prometheus names them. Both scrape modes set `instance` to the pod's name, and a pod of a
 * Rollout is named `<rollout>-<pod-template-hash>-<5 random characters>` (its ReplicaSet's name plus a suffix), so
 * the hash alone tells the canary's pods from the stable ones, whichever version either runs.
 */
export const canaryPodsMatcher = (rollout: string, podTemplateHash: string) => `instance=~"${rollout}-${podTemplateHash}-[a-z0-9]{5}"`;

export interface AnalysisMetric {
  name: string;
  query: string;
  /** Argo's expr conditions over `result`, the query's sample values. Neither true: the measurement is inconclusive. */
  successCondition: string;
  failureCondition: string;
}

/**
 * A ratio passes at or below `max` and fails above it. An empty result (no series yet) or NaN (0 / 0: no requests
 * in the window) satisfies neither: inconclusive, never a pass, and never a rollback for lack of traffic.
 */
const ratioAtMost = (name: string, query: string, max: number): AnalysisMetric => ({
  name,
  query,
  successCondition: `len(result) > 0 && result[0] <= ${max}`,
  failureCondition: `len(result) > 0 && result[0] > ${max}`,
});

/** The metrics of the canary analysis of `rollout`; `podTemplateHash` is Argo's placeholder in the template, a real hash in tests. */
export function canaryAnalysisMetrics(rollout: string, t: CanaryThresholds, podTemplateHash = CANARY_HASH_PLACEHOLDER): AnalysisMetric[] {
  const scope = { matchers: [canaryPodsMatcher(rollout, podTemplateHash)] };
  return [
    {
      name: 'api-requests',
      query: apiRequestCount(ANALYSIS_WINDOW, scope),
      successCondition: `len(result) > 0 && result[0] >= ${t.minRequests}`,
      // Too little traffic says nothing against the version: inconclusive pauses the rollout for a person to judge.
      failureCondition: 'false',
    },
    ratioAtMost('availability-error-ratio', availabilityErrorRatio(ANALYSIS_WINDOW, scope), t.maxErrorRatio),
    ratioAtMost('latency-error-ratio', latencyErrorRatio(ANALYSIS_WINDOW, scope), t.maxLatencyErrorRatio),
  ];
}
