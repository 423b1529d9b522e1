/**
 * A real Prometheus on 127.0.0.1 holding synthetic history of the service's metrics, backfilled
 * with `promtool tsdb create-blocks-from openmetrics` before it starts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { APP_JOB, SERVICE_METRICS, SLO } from '../../../monitoring/src';
import { freePort, Running } from '../../stack/process';
import { requireExecutable } from '../../stack/process';
import { startPrometheus } from '../../stack/services';

export interface SyntheticInstance {
  instance: string;
  version: string;
  /** The process started this many minutes before now. */
  startedMinutesAgo: number;
  /** The process restarted this many minutes before now (same instance, counters from zero). */
  restartedMinutesAgo?: number;
  /** This instance's own share of 500s, instead of the history's. */
  errorShare?: (minutesAgo: number) => number;
}

export interface SyntheticHistory {
  instances: SyntheticInstance[];
  /** Requests per second per instance. */
  rps: number;
  /**
   * Share of requests answered with a 500 at a moment `minutesAgo` before now. Without it the service never
   * answered a 5xx, so it has no 5xx series at all (prom-client creates a series on its first increment).
   */
  errorShare?: (minutesAgo: number) => number;
  /** Readiness probes per second per instance (never API traffic), and the share of them answered 503. */
  probeRps?: number;
  probeFailureShare?: number;
  /** Share of API requests slower than the latency SLO's threshold. */
  slowShare?: number;
  /** The external label `stage` the Prometheus reports (absent: none). */
  stage?: string;
}

const STEP_SECONDS = 15;

/** OpenMetrics text of the history, one sample every 15 s per series, ending a few seconds before now. */
export function openMetrics(h: SyntheticHistory, nowSeconds: number): string {
  const oldest = Math.max(...h.instances.map((i) => i.startedMinutesAgo));
  const lines: string[] = [];
  const counters = new Map<string, { ok: number; failed: number; probesOk: number; probesFailed: number }>();
  const end = Math.floor(nowSeconds) - 2;
  for (let t = end - Math.ceil(oldest * 60); t <= end; t += STEP_SECONDS) {
    for (const i of h.instances) {
      const restarted = i.restartedMinutesAgo === undefined ? undefined : nowSeconds - i.restartedMinutesAgo * 60;
      const started = restarted !== undefined && t >= restarted ? restarted : nowSeconds - i.startedMinutesAgo * 60;
      if (t < started) continue;
      const labels = `job="${APP_JOB}",instance="${i.instance}"`;
      if (restarted !== undefined && t >= restarted && t - STEP_SECONDS < restarted) counters.delete(i.instance);
      const c = counters.get(i.instance) ?? { ok: 0, failed: 0, probesOk: 0, probesFailed: 0 };
      const failing = i.errorShare ?? h.errorShare;
      const share = failing?.((nowSeconds - t) / 60) ?? 0;
      c.ok += h.rps * STEP_SECONDS * (1 - share);
      c.failed += h.rps * STEP_SECONDS * share;
      c.probesOk += (h.probeRps ?? 0) * STEP_SECONDS * (1 - (h.probeFailureShare ?? 0));
      c.probesFailed += (h.probeRps ?? 0) * STEP_SECONDS * (h.probeFailureShare ?? 0);
      counters.set(i.instance, c);
      const { buildInfo, httpRequests: requests, httpDuration: duration } = SERVICE_METRICS;
      const all = c.ok + c.failed;
      const api = `${labels},method="POST",route="/api/v1/events"`;
      lines.push(
        `${buildInfo.name}{${labels},version="${i.version}",commit="abc1234"} 1 ${t}`,
        `process_start_time_seconds{${labels}} ${Math.floor(started)} ${t}`,
        `${requests.name}{${labels},method="POST",route="/api/v1/events",code="202"} ${c.ok.toFixed(3)} ${t}`,
        ...(failing ? [`${requests.name}{${labels},method="POST",route="/api/v1/events",code="500"} ${c.failed.toFixed(3)} ${t}`] : []),
        `${duration.name}_bucket{${api},le="${SLO.latency.thresholdSeconds}"} ${(all * (1 - (h.slowShare ?? 0))).toFixed(3)} ${t}`,
        `${duration.name}_bucket{${api},le="+Inf"} ${all.toFixed(3)} ${t}`,
        `${duration.name}_count{${api}} ${all.toFixed(3)} ${t}`,
        `${requests.name}{${labels},method="GET",route="/readyz",code="200"} ${c.probesOk.toFixed(3)} ${t}`,
        `${requests.name}{${labels},method="GET",route="/readyz",code="503"} ${c.probesFailed.toFixed(3)} ${t}`,
      );
    }
  }
  return `${lines.join('\n')}\n# EOF\n`;
}

/** Starts Prometheus in `dir` with the history backfilled; stop it with `.stop()`. */
export async function prometheusWithHistory(dir: string, history: SyntheticHistory): Promise<Running & { url: string }> {
  fs.mkdirSync(dir, { recursive: true });
  const omFile = path.join(dir, 'history.om.txt');
  fs.writeFileSync(omFile, openMetrics(history, Date.now() / 1000));
  const promtool = requireExecutable(['promtool'], 'prometheus');
  execFileSync(promtool, ['tsdb', 'create-blocks-from', 'openmetrics', omFile, path.join(dir, 'data')], { stdio: 'pipe' });
  const configFile = path.join(dir, 'prometheus.yml');
  const labels = history.stage === undefined ? '' : `  external_labels:\n    stage: ${history.stage}\n`;
  fs.writeFileSync(configFile, `global:\n  scrape_interval: 15s\n${labels}scrape_configs: []\n`);
  return startPrometheus({ dir, port: await freePort(), configFile });
}
