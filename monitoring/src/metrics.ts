/**
 * The metrics the stack's own code exports (name, help, label names) are declared by the app, which registers them
 * and whose image is built from app/ alone: app/src/observability/metric-names.ts. The contract re-exports them so
 * that the rules, the dashboards and the promotion gate build their PromQL from the very same objects.
 */
export { MAINTENANCE_METRICS, SERVICE_METRICS, type MetricSpec } from '../../app/src/observability/metric-names';
