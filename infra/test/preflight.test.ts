/** `make preflight`: the placeholders it names, and what it says with and without a reachable cluster. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../../tools/stack/process';
import { STACKS } from '../offline';
import { clusterChecks, placeholderProblems } from '../scripts/preflight';

test.each(STACKS)('when the %s stack file still holds example values, then preflight names each by line', (stack) => {
  const problems = placeholderProblems(stack);
  expect(problems.some((p) => /\.example\.com/.test(p))).toBe(true);
  expect(problems.every((p) => p.startsWith(`Pulumi.${stack}.yaml:`) && p.endsWith('replace it'))).toBe(true);
});

test('when prod still holds every kind of placeholder, then preflight names the context, the hosts, the issuer and the egress addresses', () => {
  const text = placeholderProblems('prod').join('\n');
  for (const value of [
    'prod-cluster',
    'events.prod.example.com',
    'letsencrypt-prod',
    '10.0.0.1/32',
    '10.0.64.0/24',
    'grafana.prod.example.com',
  ])
    expect(text).toContain(value);
});

test('when a stack file names real values, then preflight names nothing, and commented examples do not count', () => {
  const text = [
    '# e.g. host: events.prod.example.com',
    'config:',
    '  event-stack:kubeContext: eks-prod-eu',
    '  event-stack:app:',
    '    host: events.acme.io',
    '    tls: { clusterIssuer: acme-le, secretName: events-tls }',
  ].join('\n');
  expect(placeholderProblems('prod', text)).toEqual([]);
});

test('when no API server answers (real kubectl, a kubeconfig pointing at a closed port), then preflight says the cluster checks did not run', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-'));
  const kubeconfig = path.join(dir, 'config');
  fs.writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${await freePort()}` } }],
      contexts: [{ name: 'prod-cluster', context: { cluster: 'c', user: 'u' } }],
      users: [{ name: 'u', user: {} }],
      'current-context': 'prod-cluster',
    }),
  );
  const kubectl = (args: string[]) =>
    execFileSync('kubectl', ['--kubeconfig', kubeconfig, '--request-timeout=2s', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString();
  const result = clusterChecks(kubectl, 'prod');
  expect(result.reachable).toBe(false);
  expect(result.lines[0]).toMatch(/^cluster not reachable through context prod-cluster/);
  expect(result.lines[1]).toMatch(/^skipped: .*metrics-server, NetworkPolicy enforcement/);
});

test('when the cluster answers, then each prerequisite is reported ok or a problem by name', () => {
  // kubectl's answers as a cluster with Kubernetes 1.30, CoreDNS, no metrics-server and Calico gives them.
  const answers: [RegExp, string | Error][] = [
    [/^version/, JSON.stringify({ serverVersion: { major: '1', minor: '30' } })],
    [/k8s-app=kube-dns/, 'pod/coredns-1\n'],
    [/apiservice/, new Error('Error from server (NotFound): apiservices "v1beta1.metrics.k8s.io" not found')],
    [/get pods -o name/, 'pod/calico-node-abc\n'],
    [/get namespace/, 'namespace/ingress-nginx\n'],
    [/clusterissuer/, 'clusterissuer.cert-manager.io/letsencrypt-prod\n'],
  ];
  const kubectl = (args: string[]) => {
    const answer = answers.find(([re]) => re.test(args.join(' ').replace(/^-n kube-system /, '')))?.[1];
    if (answer === undefined || answer instanceof Error) throw answer ?? new Error(`unexpected kubectl ${args.join(' ')}`);
    return answer;
  };
  const { reachable, lines } = clusterChecks(kubectl, 'prod');
  expect(reachable).toBe(true);
  expect(lines.filter((l) => l.startsWith('problem:'))).toEqual([
    'problem: Kubernetes 1.31 or later (matchLabelKeys in anti-affinity, the sleep preStop action) (server is 1.30)',
    'problem: metrics-server: the HPA reads CPU through metrics.k8s.io (Error from server (NotFound): apiservices "v1beta1.metrics.k8s.io" not found)',
  ]);
  expect(lines.filter((l) => l.startsWith('ok:'))).toHaveLength(4);
});
