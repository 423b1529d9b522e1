/**
 * Third-party images: prod refuses a tag-only one (mandatory), the other stacks are told (advisory).
 * The rule runs on the objects each real stack file declares, as the policy pack does at `pulumi up`.
 */
import type { KubernetesObject } from '../kube/model';
import { stackFileConfig } from '../offline';
import { violations } from '../policies/rules';
import { runIsolated as run } from './offline-run';
import { at, packReports } from './policy-pack';

process.setMaxListeners(64);

const RULE = 'third-party-images-pinned-by-digest';
const DIGEST = `sha256:${'b'.repeat(64)}`;
const statefulSet = (image: string, name = 'redis'): KubernetesObject => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name },
  spec: { template: { metadata: { labels: { 'app.kubernetes.io/name': name } }, spec: { containers: [{ name, image }] } } },
});
const ofRule = (messages: string[]) => messages.filter((m) => m.startsWith(`${RULE}:`));

test('when prod runs a third-party image by tag only, then the pack refuses it; in qa it only advises', async () => {
  const tagged = statefulSet('redis:7.4.1');
  const message =
    'StatefulSet redis container redis: image redis:7.4.1 is pinned by tag only: run `make pin-images ENV=<stack>`, review, commit';
  expect(ofRule(violations([tagged], 'prod'))).toEqual([`${RULE}: ${message}`]);
  expect(ofRule(violations([tagged], 'qa'))).toEqual([]);
  const ofPolicy = (reports: string[]) => reports.filter((m) => m.startsWith(RULE));
  const prod = await packReports([tagged], 'prod');
  expect([ofPolicy(at(prod, 'mandatory')), ofPolicy(at(prod, 'advisory'))]).toEqual([[`${RULE}: ${message}`], []]);
  const qa = await packReports([tagged], 'qa');
  expect([ofPolicy(at(qa, 'mandatory')), ofPolicy(at(qa, 'advisory'))]).toEqual([[], [`${RULE}-advisory: ${message}`]]);
});

test('when make manifests renders prod, then the tag-only images are listed as a release step, not failed', () => {
  expect(ofRule(violations([statefulSet('redis:7.4.1')], 'prod', { releaseSteps: false }))).toEqual([]);
});

test('when the image is tag@sha256, or it is the app (its own digest rule), then the rule is silent', () => {
  expect(ofRule(violations([statefulSet(`redis:7.4.1@${DIGEST}`)], 'prod'))).toEqual([]);
  expect(ofRule(violations([statefulSet('registry.example.com/event-service:0.1.0', 'event-service')], 'prod'))).toEqual([]);
});

test('when prod is deployed from its stack file with tag-only third-party images, then the policy pack refuses each; pinned, it passes', async () => {
  const prod = await run('prod');
  const refused = ofRule(violations(prod.kubernetesObjects, 'prod'));
  const config = stackFileConfig('prod');
  const tagOnly = Object.entries(config)
    .map(([key, value]) => [key, (JSON.parse(value.startsWith('{') ? value : '{}') as { image?: string }).image] as const)
    .filter((e): e is readonly [string, string] => typeof e[1] === 'string' && !e[1].includes('@sha256:'));
  // Every tag-only image of the file is named (the file is pinned by `make pin-images ENV=prod`, which needs the registries).
  for (const [, image] of tagOnly) expect(refused.some((m) => m.includes(`image ${image} is pinned by tag only`))).toBe(true);
  if (tagOnly.length === 0) expect(refused).toEqual([]);

  const pinned = Object.fromEntries(
    tagOnly.map(([key]) => {
      const value = JSON.parse(config[key] as string) as { image: string };
      return [key, JSON.stringify({ ...value, image: `${value.image}@${DIGEST}` })];
    }),
  );
  expect(ofRule(violations((await run('prod', { set: pinned })).kubernetesObjects, 'prod'))).toEqual([]);
}, 60000);
