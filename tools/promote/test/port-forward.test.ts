/** `make port-forward ENV=…`: each stage's Prometheus through its own context, on the port its prometheusUrl names. */
import fs from 'node:fs';
import path from 'node:path';
import { PROMETHEUS_NAME, PROMETHEUS_PORT } from '../../../infra/components/prometheus';
import { portForwardArgs } from '../port-forward';
import { STAGES } from '../stages';
import { readStackFile } from '../stack-files';
import { REPO_ROOT, tempDir } from './fixtures';

const service = { name: PROMETHEUS_NAME, port: PROMETHEUS_PORT };

test.each(STAGES)(
  "when the port-forward of %s is built from the repository's stack file, then it uses its context, namespace and local port",
  (stage) => {
    const stack = readStackFile(REPO_ROOT, stage);
    expect(portForwardArgs(REPO_ROOT, stage, service)).toEqual([
      ...(stack.kubeContext ? ['--context', stack.kubeContext] : []),
      '--namespace',
      stack.namespace,
      'port-forward',
      `svc/${PROMETHEUS_NAME}`,
      `${new URL(stack.prometheusUrl).port}:${PROMETHEUS_PORT}`,
    ]);
  },
);

test('when the stages are compared, then no two of them forward to the same local port', () => {
  const ports = STAGES.map((s) => new URL(readStackFile(REPO_ROOT, s).prometheusUrl).port);
  expect(new Set(ports).size).toBe(STAGES.length);
});

test("when a stage's prometheusUrl is not on this machine, then there is nothing to forward and it says so", () => {
  const root = tempDir('port-forward');
  for (const stage of STAGES) {
    const text = fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${stage}.yaml`), 'utf8');
    fs.writeFileSync(
      path.join(root, `Pulumi.${stage}.yaml`),
      text.replace(/prometheusUrl: \S+/, 'prometheusUrl: http://prometheus.monitoring:9090'),
    );
  }
  expect(() => portForwardArgs(root, 'qa', service)).toThrow(
    /qa's prometheusUrl http:\/\/prometheus\.monitoring:9090 is not on this machine/,
  );
  fs.rmSync(root, { recursive: true, force: true });
});
