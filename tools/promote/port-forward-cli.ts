/**
 * Entry point of `make port-forward ENV=<stage>` (its own: the Prometheus component it reads the Service from
 * loads the Pulumi SDK, which the other commands need not wait for).
 *   port-forward-cli.ts --stack STAGE [--root DIR]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROMETHEUS_NAME, PROMETHEUS_PORT } from '../../infra/components/prometheus';
import { PromoteError } from './errors';
import { portForward } from './port-forward';
import { parseStage } from './stages';

try {
  const { values } = parseArgs({ options: { root: { type: 'string', default: '.' }, stack: { type: 'string', default: '' } } });
  portForward(path.resolve(values.root), parseStage(values.stack, 'ENV'), { name: PROMETHEUS_NAME, port: PROMETHEUS_PORT });
} catch (err) {
  if (!(err instanceof PromoteError)) throw err;
  console.error(`port-forward: ${err.message}`);
  process.exitCode = err.exitCode;
}
