/**
 * Third-party images: prod refuses a tag-only one (mandatory), the other stacks are told (advisory).
 * The rule runs on the objects each real stack file declares, as the policy pack does at `pulumi up`.
 */
import { advisories, stackOfUrn, violations, type KubernetesObject } from '../policies/rules';
import { stackFileConfig } from '../offline';
import { runIsolated as run } from './offline-run';

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

test('when prod runs a third-party image by tag only, then the rule refuses it; in qa it only advises', () => {
  const tagged = statefulSet('redis:7.4.1');
  expect(ofRule(violations([tagged], 'prod'))).toEqual([
    `${RULE}: StatefulSet redis container redis: image redis:7.4.1 is pinned by tag only: run \`make pin-images ENV=<stack>\`, review, commit`,
  ]);
  expect(ofRule(violations([tagged], 'qa'))).toEqual([]);
  expect(ofRule(advisories([tagged], 'qa'))).toHaveLength(1);
  expect(ofRule(advisories([tagged], 'prod'))).toEqual([]);
});

test('when the image is tag@sha256, or it is the app (its own digest rule), then the rule is silent', () => {
  expect(ofRule(violations([statefulSet(`redis:7.4.1@${DIGEST}`)], 'prod'))).toEqual([]);
  expect(ofRule(violations([statefulSet('registry.example.com/event-service:0.1.0', 'event-service')], 'prod'))).toEqual([]);
});

test('the policy pack reads the stack from each resource URN', () => {
  expect(stackOfUrn('urn:pulumi:prod::event-stack::kubernetes:apps/v1:StatefulSet::redis')).toBe('prod');
  expect(stackOfUrn('not-a-urn')).toBeUndefined();
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
