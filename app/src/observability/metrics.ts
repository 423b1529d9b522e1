/**
 * The service's Prometheus registry. One registry per app instance, so tests can run several.
 * Names, help and labels come from the monitoring contract (through ./metric-names.ts).
 */
import type { NextFunction, Request, Response } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { commit, version } from '../version';
import { SERVICE_METRICS } from './metric-names';

/** Route label for requests that matched no route: raw paths never become labels. */
export const UNMATCHED_ROUTE = 'unmatched';

export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges with a counter's `_total` suffix, which `promtool check metrics`
  // rejects; the handle/request counts they carry are not used by any dashboard or alert.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }

  const httpRequests = new Counter({ ...SERVICE_METRICS.httpRequests, registers: [registry] });
  const httpDuration = new Histogram({ ...SERVICE_METRICS.httpDuration, buckets: LATENCY_BUCKETS, registers: [registry] });
  const buildInfo = new Gauge({ ...SERVICE_METRICS.buildInfo, registers: [registry] });
  buildInfo.set({ version, commit }, 1);

  return { registry, httpRequests, httpDuration };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The route template of a matched request (e.g. /api/v1/sensors/:sensorId), else UNMATCHED_ROUTE. */
export function routeOf(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  return typeof route?.path === 'string' ? `${req.baseUrl}${route.path}` : UNMATCHED_ROUTE;
}

/** Records every request's count and latency when its response is finished (or aborted). */
export function httpMetricsMiddleware(metrics: Metrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const start = process.hrtime.bigint();
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      const labels = { method: req.method, route: routeOf(req), code: String(res.headersSent ? res.statusCode : 499) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
    };
    res.once('finish', record);
    res.once('close', record);
    next();
  };
}
