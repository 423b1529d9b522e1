/**
 * `make promote`: move the digest that runs in one stage, unchanged, to the next one. The story:
 * validate the input → learn what each stage runs → apply the ordering rules → ask the source
 * stage's Prometheus (gate) → pin the digest in the target's stack file and append to the ledger
 * → `pulumi up` the target stack.
 */
import fs from 'node:fs';
import path from 'node:path';
import { resolveDevImage, DevImage } from './dev-image';
import { PromoteError, RefusedError } from './errors';
import { evaluateGate, formatGate } from './gate';
import { deployPreconditions, deployStack } from './deploy';
import { appendLedger, gitUser, LEDGER_FILE, LedgerRecord } from './ledger';
import { PULUMI_MISSING, PulumiCli } from './pulumi-cli';
import { checkVersion, compareVersions } from './semver';
import { digestOf, Image, pinnedImage, readStackFile, StackFile, withPinnedImage } from './stack-files';
import { nextStage, parseStage, previousStage, Stage, stageIndex, STAGES } from './stages';

export interface PromoteOptions {
  /** Directory holding the `Pulumi.<stage>.yaml` files and the ledger (the repository root). */
  root: string;
  version: string;
  /** Target stage; empty: the stage after the furthest one running the version. */
  to?: string;
  /** Run `pulumi up` on the target stack after changing its file (DEPLOY=1). */
  deploy: boolean;
  /** Override ordering, downgrade and gate refusals (FORCE=1); every override is logged. */
  force: boolean;
  env?: NodeJS.ProcessEnv;
  user?: string;
  log?: (line: string) => void;
}

export interface PromoteOutcome {
  /** The ledger record written; undefined when there was nothing to do. */
  record?: LedgerRecord;
}

const PINNED_STAGES = STAGES.filter((s) => s !== 'dev');

function writeFileAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

export async function promote(o: PromoteOptions): Promise<PromoteOutcome> {
  const env = o.env ?? process.env;
  const log = o.log ?? ((line: string) => console.log(line));
  const version = o.version.trim();
  if (!version) throw new PromoteError('VERSION is required, e.g. `make promote VERSION=1.4.2` (see `make status`)');
  checkVersion(version, 'VERSION');
  const requested = o.to ? parseStage(o.to, 'target stage TO') : undefined;
  if (requested === 'dev') {
    throw new PromoteError('dev is not a promotion target: dev runs the image it builds from app/ (`make release`, then deploy dev)');
  }
  const pulumi = new PulumiCli(o.root, env);
  if (o.deploy && !pulumi.available) throw new PromoteError(PULUMI_MISSING);
  // The backend and credentials of a named target are checked before dev is even asked.
  if (o.deploy && requested) deployPreconditions(requested, env, pulumi);

  // What each stage runs. Every qa/staging/prod file must pin a digest; dev is asked only when needed.
  const stacks = Object.fromEntries(STAGES.map((s) => [s, readStackFile(o.root, s)])) as Record<Stage, StackFile>;
  // A stage never promoted runs nothing yet; it can only be a target.
  const running = new Map<Stage, Image>(PINNED_STAGES.filter((s) => !stacks[s].neverPromoted).map((s) => [s, pinnedImage(stacks[s])]));
  let dev: DevImage | undefined;
  if (requested === 'qa' || !PINNED_STAGES.some((s) => running.get(s)?.version === version)) {
    dev = resolveDevImage(pulumi, env, version);
    running.set('dev', dev);
    log(`dev runs ${dev.version} (${dev.ref}) according to ${dev.source}`);
  }
  const runsVersion = STAGES.filter((s) => running.get(s)?.version === version);
  const furthest = runsVersion[runsVersion.length - 1];
  if (!furthest) {
    const what = STAGES.filter((s) => running.has(s))
      .map((s) => `${s} runs ${running.get(s)?.version}`)
      .join(', ');
    throw new PromoteError(`version ${version} runs in no stage, so there is no digest to promote (${what}); \`make status\` shows all`);
  }

  // Ordering rules: each refusal here can be overridden with FORCE=1.
  const refusals: string[] = [];
  let source: Stage = furthest;
  let target: Stage;
  if (!requested) {
    const next = nextStage(furthest);
    if (!next) {
      log(`${version} already runs in prod: nothing to promote`);
      return {};
    }
    target = next;
  } else {
    target = requested;
    const prev = previousStage(target) as Stage;
    if (runsVersion.includes(prev)) source = prev;
    else if (stageIndex(furthest) < stageIndex(prev)) {
      const skipped = STAGES.slice(stageIndex(furthest) + 1, stageIndex(target));
      refusals.push(`skipping ${skipped.join(' and ')}: ${version} runs up to ${furthest}, so its next stage is ${nextStage(furthest)}`);
    } else if (furthest !== target) {
      refusals.push(`${version} is not running in ${prev}, the stage before ${target} (${prev} runs ${running.get(prev)?.version})`);
    }
  }
  const image = running.get(source) as Image;
  const current = running.get(target);
  if (current?.version === version && current.ref === image.ref) {
    log(`${target} already pins ${version} (${image.ref}): nothing to promote (to deploy it again: \`make up ENV=${target}\`)`);
    return {};
  }
  const digests = new Set(runsVersion.map((s) => running.get(s)?.ref));
  if (digests.size > 1) {
    const which = runsVersion.map((s) => `${s} ${digestOf(running.get(s)?.ref ?? '')}`).join(', ');
    refusals.push(
      `${version} runs with different digests (${which}): a version must be one image; the digest from ${source} would be used`,
    );
  }
  if (current && compareVersions(version, current.version) < 0) {
    refusals.push(`downgrade: ${target} runs ${current.version}, which is newer than ${version}`);
  }
  if (refusals.length && !o.force) throw new RefusedError(refusals);
  // Refused deploys (backend, passphrase, CLI) change no file.
  if (o.deploy) deployPreconditions(target, env, pulumi);

  // Gate: the stage the version leaves must be healthy and have run it long enough.
  const gate = await evaluateGate({
    stage: source,
    version,
    prometheusUrl: stacks[source].prometheusUrl,
    prometheusStage: stacks[source].prometheusStage,
    thresholds: stacks[source].thresholds,
  });
  log(formatGate(gate));
  if (!gate.passed && !o.force) throw new RefusedError(gate.reasons.map((r) => `gate: ${r}`));
  const forced = [...refusals, ...gate.reasons.map((r) => `gate: ${r}`)];
  for (const reason of forced) log(`FORCE=1 overrides: ${reason}`);

  // The change: stack file and ledger in one step (the stack file is restored if the ledger cannot be written).
  const record: LedgerRecord = {
    time: new Date().toISOString(),
    version,
    digest: digestOf(image.ref),
    ref: image.ref,
    from: source,
    to: target,
    user: o.user ?? gitUser(o.root),
    gate,
    forced,
    deploy: o.deploy,
  };
  const stack = stacks[target];
  writeFileAtomic(stack.file, withPinnedImage(stack, { ref: image.ref, version }));
  try {
    appendLedger(o.root, record);
  } catch (err) {
    writeFileAtomic(stack.file, stack.parsed.source);
    throw err;
  }
  log(`promoted ${version} ${source} → ${target}: ${image.ref}`);
  log(
    `  changed ${path.basename(stack.file)} and ${LEDGER_FILE}${forced.length ? ` (FORCED: ${forced.length} override(s) recorded)` : ''}`,
  );
  if (!o.deploy) {
    log(`DEPLOY=0: review and commit both files, then deploy with \`make up ENV=${target}\``);
    return { record };
  }
  try {
    deployStack({ root: o.root, stage: target, env, log });
  } catch (err) {
    if (err instanceof PromoteError) {
      err.message +=
        `. The stack file and the ledger already record the promotion: fix the cause and run \`make up ENV=${target}\` again, ` +
        'or revert the change with git.';
    }
    throw err;
  }
  log(`deployed ${version} to ${target}; commit ${path.basename(stack.file)} and ${LEDGER_FILE} together`);
  return { record };
}
