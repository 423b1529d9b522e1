/**
 * Runs the Pulumi program for one stack without the CLI, a cluster or a registry: the real
 * Pulumi.<stack>.yaml is loaded, secrets get test values, and every resource the program declares
 * is recorded with its inputs. Used by the tests and by `make manifests`.
 *
 * Call it inside `jest.isolateModulesAsync` (or once per process): @pulumi/pulumi keeps its runtime
 * state at module level, so each run needs fresh modules.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type * as PulumiModule from '@pulumi/pulumi';
import type { KubernetesObject } from './kube/model';
import type * as ProgramModule from './program';
import { loadStackFile, NEVER_PROMOTED, PROJECT } from './stack-schema';
import { STAGES } from './stages';

export { PROJECT };
export type { KubernetesObject };
/** The Pulumi stacks: one per stage, named after it. */
export const STACKS = STAGES;
export const REPO_ROOT = path.resolve(__dirname, '..');

export interface DeclaredResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  /** Resource options as the engine would receive them (the mocks' own arguments leave them out). */
  options: DeclaredOptions;
}

export interface DeclaredOptions {
  deleteBeforeReplace: boolean;
  replaceOnChanges: string[];
  /** Names of the resources this one waits for (explicit dependsOn and inputs taken from other resources). */
  dependsOn: string[];
  customTimeouts: { create?: string; update?: string; delete?: string };
  /** Data that must outlive a destroy: Pulumi refuses to delete it (protect) and leaves it in the cluster (retainOnDelete). */
  protect: boolean;
  retainOnDelete: boolean;
  /** Name of the provider resource that manages it; empty for an engine default provider (the ambient kubeconfig's cluster). */
  provider: string;
}

export interface OfflineRun {
  stack: string;
  /** Its stack file, read once: the program ran on its values. */
  file: ReturnType<typeof stackFile>;
  resources: DeclaredResource[];
  kubernetesObjects: KubernetesObject[];
  outputs: Record<string, unknown>;
}

/** The repository's Pulumi.<stack>.yaml, read through the stack schema. */
export function stackFile(stack: string) {
  return loadStackFile(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`));
}

/** The `config:` map of Pulumi.<stack>.yaml, as `pulumi` hands it to the program (objects JSON-encoded). */
export function stackFileConfig(stack: string): Record<string, string> {
  return stackFile(stack).values;
}

/** Values for the secrets that `pulumi config set --secret` would hold on a real stack. */
export function testSecrets(externalDatabase: boolean): Record<string, string> {
  const secrets: Record<string, string> = {
    [`${PROJECT}:alertReceivers`]: JSON.stringify({
      pager: 'https://pager.test.invalid/hook',
      ticket: 'https://tickets.test.invalid/hook',
      heartbeat: 'https://heartbeat.test.invalid/ping',
    }),
  };
  if (externalDatabase) secrets[`${PROJECT}:databaseUrl`] = 'postgres://events:test-only@db.test.invalid:5432/events?sslmode=require';
  return secrets;
}

export interface RunOptions {
  /** Keys (`event-stack:…`) to set or replace after the stack file and test secrets. */
  set?: Record<string, string>;
  /** Keys to remove. */
  remove?: string[];
  /** Run a never-promoted stack as it is (the program refuses it) instead of with a stand-in image. */
  keepNeverPromoted?: boolean;
  /** RandomPassword results by resource name, as a rotation (`pulumi up --replace <urn>`) gives new ones. */
  passwords?: Record<string, string>;
}

/** Fake digests and passwords derived from the inputs, so runs are reproducible. */
function mockState(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  passwords: RunOptions['passwords'] = {},
): Record<string, unknown> {
  const h = (s: string) => createHash('sha256').update(s).digest('hex');
  if (type === 'docker:index/image:Image') {
    const imageName = String(inputs.imageName);
    return { ...inputs, repoDigest: `${imageName.replace(/:[^:/]+$/, '')}@sha256:${h(imageName)}` };
  }
  if (type === 'random:index/randomPassword:RandomPassword')
    return { ...inputs, result: passwords[name] ?? h(name).slice(0, Number(inputs.length ?? 32)) };
  return inputs;
}

/** The plain value of an input, with Pulumi's secret wrappers removed. */
export function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (o[SECRET_SIG] === SECRET_VALUE) return unwrapSecrets(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}
// How a secret input reaches the mocks (the runtime's special signature key).
const SECRET_SIG = '4dabf18193072939515e22adb298388d';
const SECRET_VALUE = '1b47061264138c4ac30d75fd1eb44270';

/** The program failed; `declared` holds what it had declared before it did. */
export class OfflineRunError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly declared: DeclaredResource[],
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'OfflineRunError';
  }
}

export async function runOffline(stack: string, options: RunOptions = {}): Promise<OfflineRun> {
  const pulumi = require('@pulumi/pulumi') as typeof PulumiModule;
  const resources: DeclaredResource[] = [];
  const declaredOptions = new Map<string, DeclaredOptions>();
  await pulumi.runtime.setMocks(
    {
      newResource: ({ type, name, inputs }) => {
        const opts = declaredOptions.get(`${type}::${name}`) as DeclaredOptions;
        resources.push({ type, name, inputs: unwrapSecrets(inputs) as Record<string, unknown>, options: opts });
        return { id: `${name}-id`, state: mockState(type, name, inputs, options.passwords) };
      },
      call: ({ inputs }) => inputs,
    },
    PROJECT,
    stack,
    false,
  );
  recordOptions(pulumi, declaredOptions);
  const file = stackFile(stack);
  const secrets = testSecrets(file.config.postgres.external);
  const config: Record<string, string> = { ...file.values, ...secrets, ...options.set };
  // A stack never promoted has no image to run yet (the program refuses it); offline it renders with an obviously fake one.
  if (config[`${PROJECT}:image`] === NEVER_PROMOTED && !options.keepNeverPromoted)
    config[`${PROJECT}:image`] = JSON.stringify({
      ref: `registry.test.invalid/event-service@sha256:${'0'.repeat(64)}`,
      version: '0.0.0-never-promoted',
    });
  for (const k of options.remove ?? []) delete config[k];
  pulumi.runtime.setAllConfig(config, Object.keys(secrets));

  const { deploy } = require('./program') as typeof ProgramModule;
  let declared: ReturnType<typeof deploy>;
  try {
    declared = deploy();
  } catch (e) {
    throw new OfflineRunError(e, [...resources]);
  }
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(declared)) outputs[k] = await new Promise((resolve) => pulumi.output(v).apply(resolve));
  await pulumi.runtime.disconnect();

  const kubernetesObjects = resources
    .filter((r) => r.type.startsWith('kubernetes:') && !r.type.startsWith('pulumi:'))
    .map((r) => r.inputs as unknown as KubernetesObject);
  return { stack, file, resources, kubernetesObjects, outputs };
}

/** The engine's registration request carries the options the mocks do not see: read them there. */
function recordOptions(pulumi: typeof PulumiModule, into: Map<string, DeclaredOptions>): void {
  interface Request {
    getType(): string;
    getName(): string;
    getDeletebeforereplace(): boolean;
    getReplaceonchangesList(): string[];
    getProtect(): boolean | undefined;
    getRetainondelete(): boolean | undefined;
    getProvider(): string;
    getDependenciesList(): string[];
    getCustomtimeouts(): { getCreate(): string; getUpdate(): string; getDelete(): string } | undefined;
  }
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: Request, cb: unknown): unknown };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const timeouts = req.getCustomtimeouts();
    into.set(`${req.getType()}::${req.getName()}`, {
      deleteBeforeReplace: req.getDeletebeforereplace(),
      replaceOnChanges: req.getReplaceonchangesList(),
      protect: req.getProtect() ?? false,
      retainOnDelete: req.getRetainondelete() ?? false,
      // A provider reference is `<urn>::<id>`, and the URN ends in `::<name>`.
      provider: req.getProvider().split('::').at(-2) ?? '',
      // URNs end in `::<name>`.
      dependsOn: req.getDependenciesList().map((urn) => urn.slice(urn.lastIndexOf('::') + 2)),
      customTimeouts: Object.fromEntries(
        Object.entries({ create: timeouts?.getCreate(), update: timeouts?.getUpdate(), delete: timeouts?.getDelete() }).filter(
          ([, v]) => v,
        ),
      ),
    });
    return register(req, cb);
  };
}
