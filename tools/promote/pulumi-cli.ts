/**
 * The boundary to the Pulumi CLI: `pulumi stack output` to learn what dev runs, `pulumi up` to
 * deploy a promotion. `pulumi` is looked up on PATH; nothing else here knows how it is called.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PromoteError } from './errors';
import { versionProblem } from '../../infra/stack-schema';
import { Image, isDigestRef } from './stack-files';
import { Stage } from './stages';

export const PULUMI_MISSING =
  'the Pulumi CLI (`pulumi`) is not on PATH: install it (https://www.pulumi.com/docs/install/), ' +
  'or run with DEPLOY=0 to change the stack file only and deploy later';

export class PulumiCli {
  readonly binary: string | undefined;

  constructor(
    private readonly root: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.binary = (env.PATH ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .map((dir) => path.join(dir, 'pulumi'))
      .find((file) => {
        try {
          fs.accessSync(file, fs.constants.X_OK);
          return fs.statSync(file).isFile();
        } catch {
          return false;
        }
      });
  }

  get available(): boolean {
    return this.binary !== undefined;
  }

  private require(): string {
    if (!this.binary) throw new PromoteError(PULUMI_MISSING);
    return this.binary;
  }

  /** The stack's outputs (`pulumi stack output --json --stack <stage>`). */
  stackOutputs(stage: Stage): Record<string, unknown> {
    const args = ['stack', 'output', '--json', '--stack', stage];
    const run = spawnSync(this.require(), args, { cwd: this.root, env: this.env, encoding: 'utf8' });
    if (run.status !== 0) {
      throw new PromoteError(`\`pulumi ${args.join(' ')}\` failed (exit ${run.status}): ${(run.stderr || run.stdout).trim()}`);
    }
    try {
      return JSON.parse(run.stdout) as Record<string, unknown>;
    } catch {
      throw new PromoteError(`\`pulumi ${args.join(' ')}\` did not print JSON: ${run.stdout.slice(0, 200)}`);
    }
  }

  /** What the dev stack runs, from its outputs `imageRef` and `version`. */
  devImage(): Image {
    const outputs = this.stackOutputs('dev');
    const { imageRef, version } = outputs;
    if (typeof imageRef !== 'string' || !isDigestRef(imageRef) || typeof version !== 'string' || versionProblem(version) !== undefined) {
      throw new PromoteError(
        `the dev stack's outputs do not name a digest-pinned image: expected imageRef "<repository>@sha256:<64 hex>" and version "x.y.z", ` +
          `got imageRef ${JSON.stringify(imageRef)}, version ${JSON.stringify(version)}`,
      );
    }
    return { ref: imageRef, version };
  }

  /** Selects the stack, creating it (empty: its settings come from Pulumi.<stage>.yaml) when it does not exist yet. */
  selectOrCreate(stage: Stage): void {
    const args = ['stack', 'select', '--create', stage, '--non-interactive'];
    const run = spawnSync(this.require(), args, { cwd: this.root, env: this.env, encoding: 'utf8' });
    if (run.status !== 0) {
      throw new PromoteError(`\`pulumi ${args.join(' ')}\` failed (exit ${run.status}): ${(run.stderr || run.stdout).trim()}`);
    }
  }

  /** Deploys (or previews) the stack from its stack file under the policy pack; output goes straight to the terminal. */
  up(stage: Stage, o: { preview: boolean; policyPack: string }): void {
    const args = o.preview
      ? ['preview', '--stack', stage, '--non-interactive', '--diff', '--policy-pack', o.policyPack]
      : ['up', '--stack', stage, '--yes', '--non-interactive', '--policy-pack', o.policyPack];
    const run = spawnSync(this.require(), args, { cwd: this.root, env: this.env, stdio: 'inherit' });
    if (run.status !== 0) {
      const err = new PromoteError(`\`pulumi ${args.join(' ')}\` failed (exit ${run.status ?? run.signal})`);
      (err as { exitCode: number }).exitCode = 4;
      throw err;
    }
  }
}
