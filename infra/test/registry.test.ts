/** Third-party images through the stack's registry mirrors, and the pull secrets every pod presents. */
import { mirroredImage } from '../components/registry';
import { clusterSemanticsProblems, stackFacts } from '../semantics';
import { runIsolated as run } from './offline-run';

const MIRRORS = { 'docker.io': 'harbor.acme.io/dockerhub', 'quay.io': 'harbor.acme.io/quay/', 'registry.k8s.io': 'harbor.acme.io/k8s' };

test.each([
  ['redis:7.4.1', 'harbor.acme.io/dockerhub/library/redis:7.4.1'],
  ['prom/prometheus:v2.54.1', 'harbor.acme.io/dockerhub/prom/prometheus:v2.54.1'],
  ['quay.io/prometheuscommunity/postgres-exporter:v0.15.0', 'harbor.acme.io/quay/prometheuscommunity/postgres-exporter:v0.15.0'],
  [`prom/pushgateway:v1.10.0@sha256:${'a'.repeat(64)}`, `harbor.acme.io/dockerhub/prom/pushgateway:v1.10.0@sha256:${'a'.repeat(64)}`],
  ['ghcr.io/acme/tool:1.0', 'ghcr.io/acme/tool:1.0'],
])('when %s is pulled through the mirrors, then the cluster pulls %s', (image, expected) => {
  expect(mirroredImage(image, MIRRORS)).toBe(expected);
});

test('when prod sets mirrors and pull secrets, then every third-party container pulls through a mirror and every pod presents the secret', async () => {
  const r = await run('prod', {
    set: { 'event-stack:registry': JSON.stringify({ pullSecrets: ['regcred'], mirrors: MIRRORS }) },
  });
  const objects = r.kubernetesObjects as unknown as { kind: string; metadata: { name: string }; spec?: any; imagePullSecrets?: unknown }[];
  const images = objects
    .filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind) && o.metadata.name !== 'event-service')
    .flatMap((o) => o.spec.template.spec.containers.map((c: { image: string }) => c.image));
  expect(images.length).toBeGreaterThan(4);
  expect(images.filter((i) => !i.startsWith('harbor.acme.io/'))).toEqual([]);
  const accounts = objects.filter((o) => o.kind === 'ServiceAccount');
  expect(accounts.map((a) => [a.metadata.name, a.imagePullSecrets])).toEqual(
    expect.arrayContaining([
      ['default', [{ name: 'regcred' }]],
      ['prometheus-discovery', [{ name: 'regcred' }]],
    ]),
  );
  expect(clusterSemanticsProblems(r.kubernetesObjects, stackFacts('prod'))).toEqual([]);
});
