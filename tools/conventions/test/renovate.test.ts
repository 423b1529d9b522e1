/**
 * renovate.json, checked offline against Renovate's own JSON schema (tools/conventions/renovate-schema.json, as
 * shipped in the npm package renovate; `make renovate-schema` refreshes it) and against the files it must keep
 * current: every third-party image of every stack file is found by its regex manager.
 */
import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const schema = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'renovate-schema.json'), 'utf8')) as {
  properties: Record<string, unknown>;
  definitions: Record<string, { items?: { allOf?: { properties?: Record<string, unknown> }[] } }>;
};
const config = JSON.parse(fs.readFileSync(path.join(ROOT, 'renovate.json'), 'utf8')) as Record<string, unknown> & {
  packageRules: Record<string, unknown>[];
  customManagers: { managerFilePatterns: string[]; matchStrings: string[] }[];
};
// The schema allows unknown options (Renovate warns at run time instead): a typo would pass it, so names are checked too.
// A package rule may also set most top-level options (groupName, pinDigests…).
const known = {
  top: ['$schema', ...Object.keys(schema.properties)],
  packageRules: [...Object.keys(schema.definitions.packageRules?.items?.allOf?.[0]?.properties ?? {}), ...Object.keys(schema.properties)],
  customManagers: Object.keys(schema.definitions.customManagers?.items?.allOf?.[0]?.properties ?? {}),
};
const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);

function problems(c: Record<string, unknown>): string[] {
  const unknown = (where: string, obj: object, names: string[]) =>
    Object.keys(obj).flatMap((k) => (names.includes(k) ? [] : [`${where}: unknown option ${k}`]));
  return [
    ...(validate(c) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`)),
    ...unknown('config', c, known.top),
    ...((c.packageRules as object[] | undefined) ?? []).flatMap((r, i) => unknown(`packageRules[${i}]`, r, known.packageRules)),
    ...((c.customManagers as object[] | undefined) ?? []).flatMap((m, i) => unknown(`customManagers[${i}]`, m, known.customManagers)),
  ];
}

test('when renovate.json is validated against the schema of the Renovate version it was written for, then it has no problem', () => {
  expect(known.top.length).toBeGreaterThan(100);
  expect(known.packageRules).toContain('matchPackageNames');
  expect(known.customManagers).toContain('managerFilePatterns');
  expect(problems(config)).toEqual([]);
});

test.each([
  ['a misspelt option', { ...config, rangeStrategie: 'pin' }, /config: unknown option rangeStrategie/],
  ['a wrong type', { ...config, labels: 'dependencies' }, /\/labels must be array/],
  [
    'a misspelt package-rule option',
    { ...config, packageRules: [{ matchPackageName: ['jest'], groupName: 'x' }] },
    /packageRules\[0\]: unknown option matchPackageName/,
  ],
  ['an unknown value', { ...config, rangeStrategy: 'sometimes' }, /\/rangeStrategy must be equal to one of the allowed values/],
] as const)('when renovate.json has %s, then the check reports it', (_what, spoilt, message) => {
  expect(problems(spoilt)).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
});

test('when a rule groups npm packages, then the groups are Pulumi, the Grafana SDK and test tooling, each naming packages that exist here', () => {
  const manifests = ['package.json', 'app/package.json', 'dashboards/package.json', 'infra/package.json', 'monitoring/package.json'].map(
    (f) => JSON.parse(fs.readFileSync(path.join(ROOT, f), 'utf8')) as { dependencies?: object; devDependencies?: object },
  );
  const deps = manifests.flatMap((m) => [...Object.keys(m.dependencies ?? {}), ...Object.keys(m.devDependencies ?? {})]);
  const groups = config.packageRules.filter((r) => (r.matchManagers as string[] | undefined)?.includes('npm'));
  expect(groups.map((r) => r.groupName)).toEqual(['Pulumi', 'Grafana SDK', 'test tooling']);
  for (const rule of groups)
    for (const name of rule.matchPackageNames as string[]) {
      const glob = new RegExp(`^${name.replace(/\*\*/g, '.*')}$`);
      expect(deps.some((d) => glob.test(d))).toBe(true);
    }
  expect(deps.filter((d) => d.startsWith('@pulumi/')).length).toBeGreaterThanOrEqual(4);
});

test('when the regex manager reads the stack files, then it finds every third-party image, with its tag (and digest when pinned)', () => {
  const [manager] = config.customManagers;
  const filePattern = new RegExp(manager!.managerFilePatterns[0]!.slice(1, -1));
  const stackFiles = fs.readdirSync(ROOT).filter((f) => filePattern.test(f));
  expect(stackFiles.sort()).toEqual(['Pulumi.dev.yaml', 'Pulumi.prod.yaml', 'Pulumi.qa.yaml', 'Pulumi.staging.yaml']);
  for (const file of stackFiles) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    const found = [...text.matchAll(new RegExp(manager!.matchStrings[0]!, 'g'))].map((m) => {
      const g = m.groups!;
      return `${g.depName}:${g.currentValue}${g.currentDigest ? `@${g.currentDigest}` : ''}`;
    });
    const config = (parse(text) as { config: Record<string, { image?: unknown }> }).config;
    const images = Object.values(config).flatMap((v) => (v && typeof v === 'object' && typeof v.image === 'string' ? [v.image] : []));
    expect(images.length).toBeGreaterThanOrEqual(7);
    expect(found).toEqual(images);
  }
});

test('when Node.js is updated, then one group moves .nvmrc, the Dockerfile base and engines together', () => {
  const node = config.packageRules.find((r) => r.groupName === 'Node.js');
  expect(node?.matchPackageNames).toEqual(['node']);
  expect(fs.readFileSync(path.join(ROOT, 'app', 'Dockerfile'), 'utf8')).toMatch(
    new RegExp(`^ARG BASE_IMAGE=node:${fs.readFileSync(path.join(ROOT, '.nvmrc'), 'utf8').trim()}-`, 'm'),
  );
});
