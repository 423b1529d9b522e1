/**
 * The one door to a deploy: `make up`, `make preview` and `make promote` all come through `deployStack`.
 * It checks the state backend, that the stack has something to run, the Pulumi CLI and the secrets
 * passphrase; creates the stack when it does not exist yet; and runs `pulumi up` (or preview) WITH the
 * policy pack, so no path deploys past the guardrails.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Backend, checkBackend, ensureLocalState } from './backend';
import { PromoteError } from './errors';
import { PulumiCli } from './pulumi-cli';
import { pinnedImage, readStackFile } from './stack-files';
import type { Stage } from './stages';

/** The policy pack of this repository (not of PROMOTE_ROOT: the rules ship with the tool). */
export const POLICY_PACK = path.resolve(__dirname, '..', '..', 'infra', 'policies');

export interface DeployOptions {
  root: string;
  stage: Stage;
  preview?: boolean;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

/** Everything that can refuse a deploy, checked before anything changes. */
export function deployPreconditions(stage: Stage, env: NodeJS.ProcessEnv, pulumi: PulumiCli): Backend {
  const backend = checkBackend(stage, env);
  if (!pulumi.available)
    throw new PromoteError('the Pulumi CLI (`pulumi`) is not on PATH: install it (https://www.pulumi.com/docs/install/)');
  // Pulumi Cloud encrypts secrets itself; every other backend uses the passphrase provider.
  if (backend.kind !== 'service' && env.PULUMI_CONFIG_PASSPHRASE === undefined && !env.PULUMI_CONFIG_PASSPHRASE_FILE) {
    throw new PromoteError(`set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): it encrypts stack ${stage}'s secrets`);
  }
  if (!fs.existsSync(path.join(POLICY_PACK, 'PulumiPolicy.yaml'))) throw new PromoteError(`the policy pack is missing: ${POLICY_PACK}`);
  return backend;
}

export function deployStack(o: DeployOptions): void {
  // qa/staging/prod run only what `make promote` pinned; a stage never promoted has nothing to deploy.
  if (o.stage !== 'dev') pinnedImage(readStackFile(o.root, o.stage));
  const pulumi = new PulumiCli(o.root, o.env);
  const backend = deployPreconditions(o.stage, o.env, pulumi);
  o.log(
    `${o.preview ? 'preview' : 'deploy'}: stack ${o.stage}, ${backend.kind} backend ${backend.url}, policy pack ${path.relative(process.cwd(), POLICY_PACK) || POLICY_PACK}`,
  );
  ensureLocalState(backend);
  pulumi.selectOrCreate(o.stage);
  pulumi.up(o.stage, { preview: o.preview ?? false, policyPack: POLICY_PACK });
}
