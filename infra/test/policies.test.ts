/**
 * Each policy rule, on a compliant workload and on one that breaks it: the rules must be able to fail. What a
 * deploy reports as mandatory or advisory is read from the policy pack itself.
 */
import type { KubernetesObject } from '../kube/model';
import { stackOfUrn } from '../policies/pack';
import { rules, violations } from '../policies/rules';
import { at, packReports } from './policy-pack';

const DIGEST_IMAGE = `registry.example.com/event-service@sha256:${'a'.repeat(64)}`;

function deployment(edit: (container: any, pod: any) => void = () => {}): KubernetesObject {
  const container: any = {
    name: 'main',
    image: DIGEST_IMAGE,
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    livenessProbe: { httpGet: { path: '/healthz', port: 8080 } },
    readinessProbe: { httpGet: { path: '/readyz', port: 8080 } },
  };
  const pod: any = { securityContext: { runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } }, containers: [container] };
  edit(container, pod);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'event-service' },
    spec: { template: { metadata: { labels: { 'app.kubernetes.io/name': 'event-service' } }, spec: pod } },
  };
}
function asThirdParty(obj: KubernetesObject): KubernetesObject {
  (obj.spec as any).template.metadata.labels = { 'app.kubernetes.io/name': 'redis' };
  return obj;
}
const broken = (obj: KubernetesObject) => violations([obj]).map((v) => v.slice(0, v.indexOf(':')));

test('when a workload follows every rule, then no rule reports it', () => {
  expect(violations([deployment()])).toEqual([]);
});

test.each([
  ['read-only-root-filesystem', (c: any) => (c.securityContext.readOnlyRootFilesystem = false)],
  ['resource-requests-and-limits', (c: any) => delete c.resources.limits.memory],
  ['probes', (c: any) => delete c.readinessProbe],
  ['no-latest-images', (c: any) => (c.image = 'redis:latest')],
  ['no-latest-images', (c: any) => (c.image = 'redis')],
  ['app-image-pinned-by-digest', (c: any) => (c.image = 'registry.example.com/event-service:0.1.0')],
])('when a workload breaks %s, then exactly that rule reports it', (rule, edit) => {
  // The app's own image must also be a digest; a third-party workload isolates the no-latest rule.
  const obj = rule === 'no-latest-images' ? asThirdParty(deployment(edit)) : deployment(edit);
  expect(broken(obj)).toEqual([rule]);
});

test('when a third-party workload runs a tagged image, then the digest rule (only for the app) does not report it', () => {
  expect(violations([asThirdParty(deployment((c) => (c.image = 'redis:7.4.1')))])).toEqual([]);
});

test('when a Job has no probes, then the probes rule does not report it (it runs to completion)', () => {
  const job = deployment((c) => (delete c.livenessProbe, delete c.readinessProbe));
  expect(violations([{ ...job, apiVersion: 'batch/v1', kind: 'Job' }])).toEqual([]);
});

test('when a CronJob container has a writable root filesystem, then the rules look inside its job template', () => {
  const pod = (deployment((c) => (c.securityContext.readOnlyRootFilesystem = false)).spec as any).template;
  const cron = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'maintenance' },
    spec: { jobTemplate: { spec: { template: pod } } },
  };
  expect(broken(cron)).toEqual(['read-only-root-filesystem']);
});

test.each([
  ['a secret setting of app/src/config.ts', { DATABASE_URL: 'postgres://db/events' }],
  ['a credential-like key', { GRAFANA_ADMIN_PASSWORD: 'x' }],
  ['a URL with a password', { upstream: 'redis://:hunter2@redis:6379' }],
  ['a private key', { 'tls.key': '-----BEGIN RSA PRIVATE KEY-----\n…' }],
])('when a ConfigMap holds %s, then no-plaintext-secrets-in-configmaps reports it', (_what, data) => {
  expect(broken({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data })).toEqual(['no-plaintext-secrets-in-configmaps']);
});

test('when a ConfigMap holds plain settings and URLs without passwords, then no rule reports it', () => {
  const data = { LOG_LEVEL: 'info', PUSHGATEWAY_URL: 'http://pushgateway:9091', 'prometheus.yml': 'scrape_configs: []' };
  expect(violations([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data }])).toEqual([]);
});

test('every rule has a unique name and a description (the policy pack publishes both)', () => {
  expect(new Set(rules.map((r) => r.name)).size).toBe(rules.length);
  for (const r of rules) expect(r.description.length).toBeGreaterThan(10);
});

function ingress(path: string, tls?: { hosts: string[]; secretName: string }[]): KubernetesObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'event-service' },
    spec: {
      tls,
      rules: [
        { host: 'events.example.com', http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: 'event-service' } } }] } },
      ],
    },
  };
}
const TLS = [{ hosts: ['events.example.com'], secretName: 'events-tls' }];

test.each(['staging', 'prod'])('when an Ingress of %s has no TLS, then the mandatory ingress-tls rule refuses it', (stack) => {
  expect(violations([ingress('/api/')], stack).map((v) => v.slice(0, v.indexOf(':')))).toEqual(['ingress-tls']);
  expect(violations([ingress('/api/', TLS)], stack)).toEqual([]);
});

test.each(['dev', 'qa'])('when an Ingress of %s has no TLS, then ingress-tls only advises (TLS is optional there)', async (stack) => {
  expect(violations([ingress('/api/')], stack)).toEqual([]);
  const reports = await packReports([ingress('/api/')], stack);
  expect(at(reports, 'mandatory')).toEqual([]);
  expect(at(reports, 'advisory')).toEqual([
    'ingress-tls-advisory: Ingress event-service: host events.example.com has no TLS (set event-stack:app.tls / grafana.tls)',
  ]);
});

test.each(['staging', 'prod'])('when an Ingress of %s has no TLS, then the policy pack refuses it (mandatory)', async (stack) => {
  const reports = await packReports([ingress('/api/')], stack);
  expect(at(reports, 'mandatory')).toEqual([
    'ingress-tls: Ingress event-service: host events.example.com has no TLS (set event-stack:app.tls / grafana.tls)',
  ]);
  expect(at(reports, 'advisory')).toEqual([]);
});

test('when the event service Ingress routes /, then ingress-routes-only-the-api reports it', () => {
  expect(broken(ingress('/', TLS))).toEqual(['ingress-routes-only-the-api']);
});

test('when a Namespace does not enforce the restricted Pod Security profile, then namespace-pod-security-restricted reports it', () => {
  const ns = (labels: Record<string, string>): KubernetesObject => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'n', labels },
  });
  expect(broken(ns({ 'pod-security.kubernetes.io/enforce': 'baseline' }))).toEqual(['namespace-pod-security-restricted']);
  expect(violations([ns({ 'pod-security.kubernetes.io/enforce': 'restricted' })])).toEqual([]);
});

test('when the event service requests less memory than its limit, then app-memory-request-equals-limit reports it, mandatory in staging and prod only', async () => {
  const app = deployment();
  const message = 'Deployment event-service container main: requests 16Mi of memory but may use 64Mi';
  expect(violations([app], 'prod')).toContain(`app-memory-request-equals-limit: ${message}`);
  expect(violations([app], 'dev').filter((v) => v.startsWith('app-memory'))).toEqual([]);
  expect(at(await packReports([app], 'prod'), 'mandatory')).toContain(`app-memory-request-equals-limit: ${message}`);
  expect(at(await packReports([app], 'dev'), 'advisory')).toEqual([`app-memory-request-equals-limit-advisory: ${message}`]);
  const equal = deployment((c) => (c.resources.requests.memory = '64Mi'));
  expect(violations([equal], 'prod').filter((v) => v.startsWith('app-memory'))).toEqual([]);
});

describe('database-connections-fit', () => {
  const hpa = (maxReplicas: number): KubernetesObject => ({
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'event-service' },
    spec: { scaleTargetRef: { kind: 'Deployment', name: 'event-service' }, maxReplicas },
  });
  const config = (data: Record<string, string>): KubernetesObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'event-service-config' },
    data,
  });
  const connections = (objects: KubernetesObject[]) => violations(objects).filter((v) => v.startsWith('database-connections-fit'));

  test("when prod's autoscaler maximum of 10 replicas meets the stack's max_connections, then they fit", () => {
    expect(connections([deployment(), hpa(10), config({})])).toEqual([]);
  });

  test('when the autoscaler may run more replicas than max_connections holds, then the rule fails, naming the sum', () => {
    expect(connections([deployment(), hpa(12), config({})])).toEqual([
      "database-connections-fit: 12 replicas × 13 connections + 4 (jobs, exporter) + 3 reserved = 163 exceed max_connections 160: raise it in infra/postgres/postgresql.conf (and the managed database's parameter group), or lower maxReplicas or the pools",
    ]);
  });

  test('when a stack raises the pools in app.env, then the rule counts them', () => {
    expect(connections([deployment(), hpa(10), config({ DB_POOL_MAX: '15' })])).toHaveLength(1);
  });
});

describe('Pod Security: a check of infra/semantics (what the cluster admits), which the policy pack enforces at deploy', () => {
  const namespace: KubernetesObject = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'event-stack-dev', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
  };
  const inNamespace = (obj: KubernetesObject) => ({ ...obj, metadata: { ...obj.metadata, namespace: 'event-stack-dev' } });

  test('when every container passes the restricted level, then the pack refuses nothing', async () => {
    expect(at(await packReports([namespace, inNamespace(deployment())], 'dev'), 'mandatory')).toEqual([]);
  });

  test.each([
    ['a privileged container', (c: any) => (c.securityContext.privileged = true), 'container main is privileged'],
    ['a container running as uid 0', (_c: any, p: any) => (p.securityContext.runAsUser = 0), 'container main runs as uid 0'],
    [
      'no seccomp profile',
      (_c: any, p: any) => delete p.securityContext.seccompProfile,
      'container main has no RuntimeDefault/Localhost seccomp profile',
    ],
  ])(
    'when a workload has %s, then the pack refuses it once, through the Pod Security check; no rule repeats it',
    async (_what, edit, problem) => {
      const obj = inNamespace(deployment(edit));
      expect(at(await packReports([namespace, obj], 'dev'), 'mandatory')).toEqual([
        `pods-pass-pod-security: Deployment/event-service: refused by Pod Security "restricted" of namespace event-stack-dev: ${problem}`,
      ]);
      expect(violations([namespace, obj], 'dev')).toEqual([]);
    },
  );
});

test('the policy pack reads the stack from each resource URN', () => {
  expect(stackOfUrn('urn:pulumi:prod::event-stack::kubernetes:apps/v1:StatefulSet::redis')).toBe('prod');
  expect(stackOfUrn('not-a-urn')).toBeUndefined();
});
