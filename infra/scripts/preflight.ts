/**
 * `make preflight ENV=<stack>`: what must hold before a first `make up`. Offline: every placeholder still in the
 * stack file, by key and line. With a reachable cluster (the stack's kubeconfig context), through kubectl: the
 * Kubernetes version, DNS, metrics-server (the HPA), a CNI that enforces NetworkPolicy, the ingress controller's
 * namespace and cert-manager's issuer. Without one it says so and which checks it skipped. Exit 1 on a problem.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, stackFile } from '../offline';

const stackPath = (stack: string) => path.join(REPO_ROOT, `Pulumi.${stack}.yaml`);

/** Values the stack files ship with that name nothing real: each must be replaced before a first deploy. */
export const PLACEHOLDERS: { pattern: RegExp; what: string }[] = [
  { pattern: /\b(qa|staging|prod)-cluster\b/, what: 'a kubeconfig context of the examples' },
  { pattern: /\bregistry\.example\.com\b/, what: 'the example registry' },
  { pattern: /\b[\w.-]*\.example\.com\b/, what: 'an example.com host (DNS names of the app, Grafana, Prometheus, Alertmanager)' },
  {
    pattern: /\bletsencrypt-(prod|staging)\b/,
    what: "an issuer name of the examples: the cluster's ClusterIssuer (kubectl get clusterissuer)",
  },
  {
    pattern: /'10\.0\.0\.1\/32'|'10\.0\.64\.0\/24'/,
    what: 'an example address of event-stack:egress (the API server, the managed database)',
  },
];

/** Each line of the stack file that still holds a placeholder: "Pulumi.<stack>.yaml:<line>: <value> is <what>". */
export function placeholderProblems(stack: string, text = fs.readFileSync(stackPath(stack), 'utf8')): string[] {
  return text.split('\n').flatMap((line, i) => {
    if (/^\s*#/.test(line)) return [];
    const found = PLACEHOLDERS.find((p) => p.pattern.test(line));
    return found ? [`Pulumi.${stack}.yaml:${i + 1}: ${line.trim()} — ${found.what}: replace it`] : [];
  });
}

type Kubectl = (args: string[]) => string;

/** The cluster checks, each "ok: …" or "problem: …"; one "unreachable" line when no API server answers. */
export function clusterChecks(kubectl: Kubectl, stack: string): { reachable: boolean; lines: string[] } {
  const { config } = stackFile(stack);
  try {
    kubectl(['version', '-o', 'json']);
  } catch (err) {
    return {
      reachable: false,
      lines: [
        `cluster not reachable through context ${config.kubeContext ?? '(current)'}: ${(err as Error).message.split('\n')[0]}`,
        'skipped: Kubernetes version, DNS, metrics-server, NetworkPolicy enforcement, ingress namespace, cert-manager issuer',
      ],
    };
  }
  const lines: string[] = [];
  const check = (name: string, ok: () => boolean | string) => {
    try {
      const result = ok();
      lines.push(result === true ? `ok: ${name}` : `problem: ${name}${typeof result === 'string' ? ` (${result})` : ''}`);
    } catch (err) {
      lines.push(`problem: ${name} (${(err as Error).message.split('\n')[0]})`);
    }
  };
  check('Kubernetes 1.31 or later (matchLabelKeys in anti-affinity, the sleep preStop action)', () => {
    const v = JSON.parse(kubectl(['version', '-o', 'json'])).serverVersion as { major: string; minor: string };
    return Number(v.major) > 1 || parseInt(v.minor, 10) >= 31 || `server is ${v.major}.${v.minor}`;
  });
  check(
    'DNS: kube-dns pods in kube-system (the egress policy allows exactly those)',
    () =>
      kubectl(['-n', 'kube-system', 'get', 'pods', '-l', 'k8s-app=kube-dns', '-o', 'name']).trim() !== '' ||
      'no pod labelled k8s-app=kube-dns',
  );
  check(
    'metrics-server: the HPA reads CPU through metrics.k8s.io',
    () =>
      /True/.test(
        kubectl(['get', 'apiservice', 'v1beta1.metrics.k8s.io', '-o', 'jsonpath={.status.conditions[?(@.type=="Available")].status}']),
      ) || 'APIService v1beta1.metrics.k8s.io is not Available',
  );
  check(
    'a CNI that enforces NetworkPolicy (Calico, Cilium, Antrea, kube-router, Weave, or the EKS VPC CNI with its network policy agent)',
    () => {
      const pods = kubectl(['-n', 'kube-system', 'get', 'pods', '-o', 'name']);
      return (
        /calico|cilium|antrea|kube-router|weave-net|aws-network-policy-agent/.test(pods) ||
        'none of the known enforcing CNIs runs in kube-system'
      );
    },
  );
  check(
    `the ingress controller's namespace ${config.ingress.namespace}`,
    () => kubectl(['get', 'namespace', config.ingress.namespace, '-o', 'name']).trim() !== '',
  );
  for (const tls of [config.app.tls, config.monitoring.mode === 'bundled' ? config.monitoring.grafana.tls : undefined])
    if (tls?.certManager)
      check(
        `cert-manager ${tls.certManager.kind} ${tls.certManager.name}`,
        () =>
          kubectl([
            'get',
            tls.certManager!.kind.toLowerCase(),
            tls.certManager!.name,
            ...(tls.certManager!.kind === 'Issuer' ? ['-n', config.namespace] : []),
            '-o',
            'name',
          ]).trim() !== '',
      );
  return { reachable: true, lines };
}

if (require.main === module) {
  const stack = process.argv[2] ?? '';
  const { config } = stackFile(stack);
  const kubectl: Kubectl = (args) =>
    execFileSync('kubectl', [...(config.kubeContext ? ['--context', config.kubeContext] : []), '--request-timeout=5s', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString();
  const placeholders = placeholderProblems(stack);
  console.log(`preflight ${stack}: ${path.basename(stackPath(stack))}`);
  for (const p of placeholders) console.log(`problem: ${p}`);
  if (placeholders.length === 0) console.log('ok: no placeholder left in the stack file');
  const cluster = clusterChecks(kubectl, stack);
  for (const line of cluster.lines) console.log(line);
  const failed = placeholders.length > 0 || cluster.lines.some((l) => l.startsWith('problem:'));
  if (!cluster.reachable) console.log('preflight: the cluster checks did not run; run again where the context reaches the cluster');
  process.exit(failed ? 1 : 0);
}
