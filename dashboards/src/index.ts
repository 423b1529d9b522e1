/** Every dashboard of the stack; render.ts writes each to dashboards/json/<uid>.json. */
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { batchJobs } from './batch-jobs';
import { dependencies } from './dependencies';
import { ingestPipeline } from './ingest-pipeline';
import { resources } from './resources';
import { serviceOverview } from './service-overview';
import { slo } from './slo';

export function allDashboards(): Dashboard[] {
  return [serviceOverview(), ingestPipeline(), resources(), dependencies(), batchJobs(), slo()];
}
