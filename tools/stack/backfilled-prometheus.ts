/**
 * A real Prometheus on 127.0.0.1 that holds synthetic history and scrapes nothing: for series no program here can
 * export (kube-state-metrics, CloudNativePG, the pods of a canary). The history is OpenMetrics text (timestamps in
 * seconds, `# EOF` last), turned into blocks by `promtool tsdb create-blocks-from openmetrics` before it starts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, requireExecutable, type Running } from './process';
import { startPrometheus } from './services';

/**
 * Starts Prometheus over `openMetrics` in a temporary directory named after `name` (its data, configuration and
 * log); `.stop()` stops it and removes the directory.
 */
export async function startBackfilledPrometheus(name: string, openMetrics: string): Promise<Running & { url: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const history = path.join(dir, 'history.om.txt');
  fs.writeFileSync(history, openMetrics);
  const promtool = requireExecutable(['promtool'], 'prometheus');
  execFileSync(promtool, ['tsdb', 'create-blocks-from', 'openmetrics', history, path.join(dir, 'data')], { stdio: 'pipe' });
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(configFile, 'global:\n  scrape_interval: 15s\nscrape_configs: []\n');
  const prometheus = await startPrometheus({ dir, port: await freePort(), configFile });
  return {
    ...prometheus,
    stop: async (graceMs?: number) => {
      await prometheus.stop(graceMs);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
