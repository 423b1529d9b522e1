/**
 * `make promote`: move the digest that runs in one stage, unchanged, to the next one. The story:
 * validate the input → learn what each stage runs → apply the ordering rules → ask the source
 * stage's Prometheus (gate) → pin the digest in the target's stack file and append to the ledger
 * → `pulumi up` the target stack.
 */
import path from 'node:path';
import { resolveDevImage, DevImage } from './dev-image';
import { BadVersionError, DeployFailedError, PromoteError, RefusedError, RolledBackError } from './errors';
import { evaluateGate, formatGate, GateResult } from './gate';
import { deployPreconditions } from './deploy';
import { badVersions, gitUser, LEDGER_FILE, LedgerRecord, readLedger } from './ledger';
import { Applied, applyImage, ApplyContext, recordAndCommit } from './apply';
import { requireCommitted, withStageLock } from './repo';
import { rollbackLocked } from './rollback';
import { PULUMI_MISSING, PulumiCli } from './pulumi-cli';
import { checkVersion, compareVersions } from './semver';
import { digestOf, Image, pinnedImage, readStackFile, StackFile, stackFilePath } from './stack-files';
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
  /** Watch the new version for the target's bake time and roll back on a breach (WATCH=0: skip, recorded). */
  watch?: boolean;
  /** Seconds between the watch's queries. */
  pollSeconds?: number;
  env?: NodeJS.ProcessEnv;
  user?: string;
  log?: (line: string) => void;
}

export interface PromoteOutcome {
  /** The ledger record written; undefined when there was nothing to do. */
  record?: LedgerRecord;
}

const PINNED_STAGES = STAGES.filter((s) => s !== 'dev');

/** The promotion's input, checked, with what every step needs. */
interface Request {
  o: PromoteOptions;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  version: string;
  /** The target stage TO, when given. */
  requested?: Stage;
  user: string;
  pulumi: PulumiCli;
}

/** What each stage's file says, and what each stage runs (dev only when asked). */
interface Running {
  stacks: Record<Stage, StackFile>;
  images: Map<Stage, Image>;
  /** The stages running the version, in order. */
  runsVersion: Stage[];
}

/** The move the ordering rules settled on, and the refusals FORCE=1 would override. */
interface Move {
  source: Stage;
  target: Stage;
  image: Image;
  refusals: string[];
}

export async function promote(o: PromoteOptions): Promise<PromoteOutcome> {
  const req = checkRequest(o);
  const running = whatRuns(req);
  const move = orderingRules(req, running);
  if (!move) return {};
  if (move.refusals.length && !o.force) throw new RefusedError(move.refusals);
  // Refused deploys (backend, passphrase, CLI) change no file.
  if (o.deploy) deployPreconditions(move.target, req.env, req.pulumi);
  const { version, user } = req;
  const { source, target } = move;
  return withStageLock(o.root, target, { user, command: `promote ${version} ${source} → ${target}` }, () =>
    gateAndApply(req, running.stacks, move),
  );
}

/** Validates the input and refuses what can be refused before anything is asked. */
function checkRequest(o: PromoteOptions): Request {
  const env = o.env ?? process.env;
  const log = o.log ?? ((line: string) => console.log(line));
  const version = o.version.trim();
  if (!version) throw new PromoteError('VERSION is required, e.g. `make promote VERSION=1.4.2` (see `make status`)');
  checkVersion(version, 'VERSION');
  const requested = o.to ? parseStage(o.to, 'target stage TO') : undefined;
  const user = o.user ?? ciIdentity(env) ?? gitUser(o.root);
  // Promotions are commits: they start from committed stack files and ledger.
  requireCommitted(o.root, [...STAGES.map((st) => path.basename(stackFilePath(o.root, st))), LEDGER_FILE]);
  const bad = badVersions(readLedger(o.root)).get(version);
  if (bad) {
    throw new BadVersionError(
      `${version} is marked bad (rolled back ${bad}): make unmark-bad VERSION=${version} REASON=… if it is good after all`,
    );
  }
  if (requested === 'dev') {
    throw new PromoteError('dev is not a promotion target: dev runs the image it builds from app/ (`make release`, then deploy dev)');
  }
  const pulumi = new PulumiCli(o.root, env);
  if (o.deploy && !pulumi.available) throw new PromoteError(PULUMI_MISSING);
  // The backend and credentials of a named target are checked before dev is even asked.
  if (o.deploy && requested) deployPreconditions(requested, env, pulumi);
  return { o, env, log, version, requested, user, pulumi };
}

/** What each stage runs. Every qa/staging/prod file must pin a digest; dev is asked only when needed. */
function whatRuns({ o, env, log, version, requested, pulumi }: Request): Running {
  const stacks = Object.fromEntries(STAGES.map((s) => [s, readStackFile(o.root, s)])) as Record<Stage, StackFile>;
  // A stage never promoted runs nothing yet; it can only be a target.
  const images = new Map<Stage, Image>(PINNED_STAGES.filter((s) => !stacks[s].neverPromoted).map((s) => [s, pinnedImage(stacks[s])]));
  if (requested === 'qa' || !PINNED_STAGES.some((s) => images.get(s)?.version === version)) {
    const dev: DevImage = resolveDevImage(pulumi, env, version);
    images.set('dev', dev);
    log(`dev runs ${dev.version} (${dev.ref}) according to ${dev.source}`);
  }
  const runsVersion = STAGES.filter((s) => images.get(s)?.version === version);
  if (!runsVersion.length) {
    const what = STAGES.filter((s) => images.has(s))
      .map((s) => `${s} runs ${images.get(s)?.version}`)
      .join(', ');
    throw new PromoteError(`version ${version} runs in no stage, so there is no digest to promote (${what}); \`make status\` shows all`);
  }
  return { stacks, images, runsVersion };
}

/** Source and target of the move, and the refusals FORCE=1 may override; undefined when there is nothing to do. */
function orderingRules({ version, requested, log }: Request, { images, runsVersion }: Running): Move | undefined {
  const furthest = runsVersion[runsVersion.length - 1] as Stage;
  const refusals: string[] = [];
  let source: Stage = furthest;
  let target: Stage;
  if (!requested) {
    const next = nextStage(furthest);
    if (!next) {
      log(`${version} already runs in prod: nothing to promote`);
      return undefined;
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
      refusals.push(`${version} is not running in ${prev}, the stage before ${target} (${prev} runs ${images.get(prev)?.version})`);
    }
  }
  const image = images.get(source) as Image;
  const current = images.get(target);
  if (current?.version === version && current.ref === image.ref) {
    log(`${target} already pins ${version} (${image.ref}): nothing to promote (to deploy it again: \`make up ENV=${target}\`)`);
    return undefined;
  }
  return { source, target, image, refusals: [...refusals, ...imageRefusals(version, source, target, images, runsVersion)] };
}

/** One version must be one image, and a promotion must not downgrade its target. */
function imageRefusals(version: string, source: Stage, target: Stage, images: Map<Stage, Image>, runsVersion: Stage[]): string[] {
  const refusals: string[] = [];
  const digests = new Set(runsVersion.map((s) => images.get(s)?.ref));
  if (digests.size > 1) {
    const which = runsVersion.map((s) => `${s} ${digestOf(images.get(s)?.ref ?? '')}`).join(', ');
    refusals.push(
      `${version} runs with different digests (${which}): a version must be one image; the digest from ${source} would be used`,
    );
  }
  const current = images.get(target);
  if (current && compareVersions(version, current.version) < 0) {
    refusals.push(`downgrade: ${target} runs ${current.version}, which is newer than ${version}`);
  }
  return refusals;
}

/** Under the target's lock: the gate on the source stage, then pin, deploy, watch, record and commit. */
async function gateAndApply(req: Request, stacks: Record<Stage, StackFile>, move: Move): Promise<PromoteOutcome> {
  const { o, env, log, user, version } = req;
  const { source, target, image } = move;
  // Another promotion may have finished while this one was reading: judge only what is committed now.
  requireCommitted(o.root, [path.basename(stacks[target].file), LEDGER_FILE]);
  if (readStackFile(o.root, target).parsed.source !== stacks[target].parsed.source) {
    throw new PromoteError(`Pulumi.${target}.yaml changed while this promotion started: run it again`);
  }
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
  const forced = [...move.refusals, ...gate.reasons.map((r) => `gate: ${r}`)];
  for (const reason of forced) log(`FORCE=1 overrides: ${reason}`);

  const ctx: ApplyContext = { root: o.root, env, log, user, deploy: o.deploy, watch: o.watch ?? true, pollSeconds: o.pollSeconds };
  const stack = stacks[target];
  const applied = await applyImage(ctx, stack, image, { action: 'promote', from: source, gate, forced });
  log(`promoted ${version} ${source} → ${target}: ${image.ref} (${applied.record.outcome})`);
  recordAndCommit(ctx, stack, applied.record, `Promote ${version} ${source} → ${target}`, commitBody(stack, applied.record, gate, forced));
  return settle(ctx, move, version, applied);
}

function commitBody(stack: StackFile, record: LedgerRecord, gate: GateResult, forced: string[]): string[] {
  return [
    `${record.ref} (${record.digest}) now pinned in ${path.basename(stack.file)}.`,
    `Gate ${gate.stage}: ${gate.passed ? 'PASSED' : 'REFUSED'}${forced.length ? `, FORCED past ${forced.length} refusal(s)` : ''}; ` +
      `${gate.runningMinutes?.toFixed(0) ?? 'n/a'} min soak, ${Math.round(gate.requests ?? 0)} requests, ` +
      `burn ${gate.burnRate?.toFixed(2) ?? 'n/a'} availability / ${gate.latencyBurnRate?.toFixed(2) ?? 'n/a'} latency.`,
    `Outcome: ${record.outcome}${record.watch === 'skipped' ? ' (not watched: WATCH=0)' : ''}.`,
  ];
}

/** After the commit: a failed deploy, an unjudged watch and a breach each end the promotion in their own way. */
async function settle(ctx: ApplyContext, { target }: Move, version: string, applied: Applied): Promise<PromoteOutcome> {
  const { record } = applied;
  if (applied.deployError) {
    throw new DeployFailedError(
      `${applied.deployError.message}. Recorded as failed in ${LEDGER_FILE}: fix the cause and run \`make up ENV=${target}\` ` +
        `(recorded too), or \`make rollback ENV=${target} REASON=…\``,
    );
  }
  if (record.outcome === 'not-deployed') {
    ctx.log(`DEPLOY=0: deploy it with \`make up ENV=${target}\` (the ledger records that deploy too)`);
    return { record };
  }
  if (applied.watch && !applied.watch.judged) {
    throw new DeployFailedError(`${target} runs ${version}, but the watch could not judge it: ${applied.watch.breach}`);
  }
  if (record.outcome === 'rolled-back') {
    const reason = `watch: ${applied.watch?.breach ?? 'breach'}`;
    ctx.log(`watch: ${reason}; rolling ${target} back`);
    await rollbackLocked({ ...ctx, stage: target, reason });
    throw new RolledBackError(`${version} was rolled back in ${target} and marked bad: ${reason}`);
  }
  ctx.log(`deployed ${version} to ${target}`);
  return { record };
}

/**
 * Who runs a promotion from a GitHub Actions workflow: the actor and the run, so the ledger names the approved
 * run (the environment's reviewers are on its page). Undefined outside Actions.
 */
export function ciIdentity(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GITHUB_ACTIONS !== 'true' || !env.GITHUB_ACTOR) return undefined;
  const run = `${env.GITHUB_SERVER_URL ?? 'https://github.com'}/${env.GITHUB_REPOSITORY ?? ''}/actions/runs/${env.GITHUB_RUN_ID ?? ''}`;
  return `${env.GITHUB_ACTOR} (GitHub Actions ${run}) <${env.GITHUB_ACTOR}@users.noreply.github.com>`;
}

/**
 * `make up ENV=<qa|staging|prod>`: deploys what the stack file pins, through the same lock, watch and ledger as
 * a promotion, so the retry after a failed deploy is recorded (action up) with its outcome.
 */
export async function upRecorded(o: Omit<ApplyContext, 'deploy'> & { stage: Stage }): Promise<void> {
  const ctx: ApplyContext = { ...o, deploy: true };
  // What can refuse the deploy (never promoted, backend, CLI, passphrase) refuses before anything is locked.
  pinnedImage(readStackFile(o.root, o.stage));
  deployPreconditions(o.stage, o.env, new PulumiCli(o.root, o.env));
  await withStageLock(o.root, o.stage, { user: o.user, command: `up ${o.stage}` }, async () => {
    const stack = readStackFile(o.root, o.stage);
    const image = pinnedImage(stack);
    requireCommitted(o.root, [path.basename(stack.file), LEDGER_FILE]);
    const applied = await applyImage(ctx, stack, image, { action: 'up', from: o.stage, forced: [] });
    recordAndCommit(ctx, stack, applied.record, `Deploy ${image.version} to ${o.stage} again`, [
      `make up ENV=${o.stage}: ${image.ref}.`,
      `Outcome: ${applied.record.outcome}.`,
    ]);
    if (applied.deployError) throw new DeployFailedError(`${applied.deployError.message}. Recorded as failed in ${LEDGER_FILE}`);
    if (applied.watch && !applied.watch.judged)
      throw new DeployFailedError(`${o.stage} runs ${image.version}, unwatched: ${applied.watch.breach}`);
    if (applied.record.outcome === 'rolled-back') {
      const reason = `watch: ${applied.watch?.breach ?? 'breach'}`;
      await rollbackLocked({ ...ctx, stage: o.stage, reason });
      throw new RolledBackError(`${image.version} was rolled back in ${o.stage} and marked bad: ${reason}`);
    }
  });
}
