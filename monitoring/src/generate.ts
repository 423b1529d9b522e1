/**
 * Writes the files rendered from the monitoring contract: `rules DIR` the rule files (alerts/rules), and
 * `metric-names FILE` the app's copy of the metric names (app/src/observability/metric-names.ts), each in
 * prettier's format so that `make lint` and the drift checks agree on one text.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { MAINTENANCE_METRICS, SERVICE_METRICS } from './metrics';
import { renderRuleFiles } from './rules';

/** Where the app's copy lives; the service and the maintenance job register their metrics from it. */
export const APP_METRIC_NAMES_FILE = path.join(__dirname, '..', '..', 'app', 'src', 'observability', 'metric-names.ts');

async function formatted(file: string, text: string): Promise<string> {
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...options, filepath: file });
}

/** The TypeScript text of the app's copy of the metric names (data only: the image is built from app/ alone). */
export function renderAppMetricNames(): string {
  const constant = (name: string, value: unknown) => `export const ${name} = ${JSON.stringify(value, null, 2)} as const;\n`;
  return [
    '// Generated from monitoring/src/metrics.ts by `make metric-names`; do not edit (make metric-names-check fails while it is stale).',
    '// The image is built from app/ alone, so the service cannot import the monitoring contract: it registers from this copy.',
    '',
    constant('SERVICE_METRICS', SERVICE_METRICS),
    constant('MAINTENANCE_METRICS', MAINTENANCE_METRICS),
  ].join('\n');
}

export async function writeRuleFiles(dir: string): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, text] of Object.entries(renderRuleFiles())) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, await formatted(file, text));
    written.push(file);
  }
  return written;
}

export async function writeAppMetricNames(file: string): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, await formatted(APP_METRIC_NAMES_FILE, renderAppMetricNames()));
}

if (require.main === module) {
  const [what, target] = process.argv.slice(2);
  const run =
    what === 'rules' && target
      ? writeRuleFiles(target).then((files) => console.log(`rules: ${files.length} files rendered into ${target}`))
      : what === 'metric-names' && target
        ? writeAppMetricNames(target).then(() => console.log(`metric-names: rendered ${target}`))
        : Promise.reject(new Error('usage: generate.ts rules DIR | metric-names FILE'));
  run.catch((err: unknown) => {
    console.error((err as Error).message);
    process.exitCode = 1;
  });
}
