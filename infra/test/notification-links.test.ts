/**
 * The links in a notification, proven on a real Prometheus and Alertmanager started with the external-URL
 * arguments the program renders for staging: the webhook payload's externalURL (Alertmanager's silence and
 * alert links) and each alert's generatorURL (Prometheus' graph link) must be the stack's public URLs, never a
 * loopback port-forward.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { renderAlertmanagerConfig } from '../../monitoring/src';
import { freePort, type Running } from '../../tools/stack/process';
import { startAlertmanager, startPrometheus } from '../../tools/stack/services';
import { runIsolated as run } from './offline-run';

interface Notification {
  receiver: string;
  externalURL: string;
  alerts: { labels: Record<string, string>; generatorURL: string }[];
}

const notifications: Notification[] = [];
const started: Running[] = [];
let webhook: http.Server | undefined;
let dir: string;

afterAll(async () => {
  for (const p of started.reverse()) await p.stop(10_000);
  await new Promise((r) => (webhook ? webhook.close(r) : r(undefined)));
}, 30_000);

/** An argument's value in the rendered container: `--flag=value`. */
const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);

test('when staging notifies, then the links of the notification are its public URLs, from the arguments the program renders', async () => {
  const objects = (await run('staging')).kubernetesObjects as unknown as { kind: string; metadata: { name: string }; spec: any }[];
  const argsOf = (kind: string, name: string): string[] =>
    objects.find((o) => o.kind === kind && o.metadata.name === name)!.spec.template.spec.containers[0].args;
  const alertmanagerUrl = flag(argsOf('StatefulSet', 'alertmanager'), '--web.external-url')!;
  const prometheusUrl = flag(argsOf('StatefulSet', 'prometheus'), '--web.external-url')!;
  expect(alertmanagerUrl).toMatch(/^https:\/\/(?!127\.)/);
  expect(prometheusUrl).toMatch(/^https:\/\/(?!127\.)/);

  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notification-links-'));
  webhook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      notifications.push(JSON.parse(body) as Notification);
      res.end();
    });
  });
  await new Promise<void>((resolve) => webhook!.listen(0, '127.0.0.1', () => resolve()));
  const hook = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}`;

  const amPort = await freePort();
  const amConfig = path.join(dir, 'alertmanager.yml');
  fs.writeFileSync(
    amConfig,
    renderAlertmanagerConfig({
      pagerUrl: `${hook}/pager`,
      ticketUrl: `${hook}/ticket`,
      heartbeatUrl: `${hook}/heartbeat`,
      timing: { groupWait: '0s', groupInterval: '1s', repeatInterval: '1m' },
    }),
  );
  fs.mkdirSync(path.join(dir, 'am'));
  started.push(
    await startAlertmanager({
      dir: path.join(dir, 'am'),
      port: amPort,
      configFile: amConfig,
      extraArgs: [`--web.external-url=${alertmanagerUrl}`],
    }),
  );

  // The real rule files: their always-firing Watchdog is the notification.
  const rules = fs.readdirSync(path.join(__dirname, '../../alerts/rules')).map((f) => path.resolve(__dirname, '../../alerts/rules', f));
  const promConfig = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(
    promConfig,
    stringify({
      global: { evaluation_interval: '1s' },
      rule_files: rules,
      alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
    }),
  );
  fs.mkdirSync(path.join(dir, 'prom'));
  started.push(
    await startPrometheus({
      dir: path.join(dir, 'prom'),
      port: await freePort(),
      configFile: promConfig,
      extraArgs: [`--web.external-url=${prometheusUrl}`, '--rules.alert.resend-delay=1s'],
    }),
  );

  while (!notifications.some((n) => n.receiver === 'heartbeat')) await new Promise((r) => setTimeout(r, 250));
  const delivered = notifications.find((n) => n.receiver === 'heartbeat')!;
  expect(delivered.externalURL).toBe(alertmanagerUrl);
  for (const alert of delivered.alerts) expect(alert.generatorURL.startsWith(`${prometheusUrl}/graph?`)).toBe(true);
}, 60_000);
