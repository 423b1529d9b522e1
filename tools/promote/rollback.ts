/**
 * `make rollback ENV=<stage> REASON=…`: put back the digest that ran in the stage before the current one (or
 * TO_VERSION's, if the ledger shows it ran there), without a gate (the stage may be on fire), deployed through
 * the same door as every deploy (policy pack) and watched; the replaced version is marked bad, so `make
 * promote` refuses it until `make unmark-bad VERSION=… REASON=…`.
 */
import { applyImage, ApplyContext, recordAndCommit } from './apply';
import { DeployFailedError, PromoteError, RolledBackError } from './errors';
import { appendLedger, badVersions, deploysOf, LEDGER_FILE, LedgerRecord, readLedger } from './ledger';
import { commitFiles, requireCommitted, withStageLock } from './repo';
import { digestOf, Image, pinnedImage, readStackFile, stackFilePath } from './stack-files';
import { parseStage, Stage } from './stages';
import { checkVersion } from './semver';
import path from 'node:path';

export interface RollbackOptions extends ApplyContext {
  stage: string;
  reason: string;
  /** An older version the ledger shows ran in the stage (TO_VERSION); default: the one before the current. */
  toVersion?: string;
}

/** The image the stage ran before `current`, from the ledger's successful deploys to it, newest first. */
export function previousImage(root: string, stage: Stage, current: Image, toVersion?: string): Image {
  const records = readLedger(root);
  const bad = badVersions(records);
  const ran = deploysOf(records, stage)
    .filter((r) => (r.outcome ?? 'deployed') === 'deployed' && r.ref !== current.ref)
    .filter((r) => (toVersion ? r.version === toVersion : !bad.has(r.version)))
    .pop();
  if (!ran) {
    throw new PromoteError(
      toVersion
        ? `${LEDGER_FILE} shows no deploy of ${toVersion} in ${stage} other than the current one: nothing to roll back to`
        : `${LEDGER_FILE} shows no earlier (good) digest deployed in ${stage} before ${current.version}: nothing to roll back to (TO_VERSION=x for an older one)`,
    );
  }
  return { ref: ran.ref, version: ran.version };
}

/** The rollback itself, for a caller that already holds the stage's lock (the watch of a promotion). */
export async function rollbackLocked(o: RollbackOptions & { stage: Stage }): Promise<void> {
  const stack = readStackFile(o.root, o.stage);
  const current = pinnedImage(stack);
  const target = previousImage(o.root, o.stage, current, o.toVersion);
  o.log(`rollback ${o.stage}: ${current.version} (${current.ref}) → ${target.version} (${target.ref}): ${o.reason}`);
  const applied = await applyImage(o, stack, target, {
    action: 'rollback',
    from: o.stage,
    forced: [],
    reason: o.reason,
    replaced: current,
    ...(current.version !== target.version ? { markedBad: current.version } : {}),
  });
  const outcome = applied.record.outcome === 'rolled-back' ? 'deployed, and the watch saw a breach' : applied.record.outcome;
  recordAndCommit(o, stack, applied.record, `Roll back ${o.stage} from ${current.version} to ${target.version}`, [
    `${target.ref} replaces ${current.ref} in ${o.stage}: ${o.reason}`,
    `Outcome: ${outcome}.${applied.record.markedBad ? ` ${current.version} is marked bad (make unmark-bad VERSION=${current.version}).` : ''}`,
  ]);
  if (applied.deployError) {
    throw new DeployFailedError(`${applied.deployError.message}. Recorded as failed: fix the cause and run \`make up ENV=${o.stage}\``);
  }
  if (applied.watch && !applied.watch.judged)
    throw new DeployFailedError(`${o.stage} runs ${target.version}, unwatched: ${applied.watch.breach}`);
  if (applied.record.outcome === 'rolled-back') {
    // Nothing older is put back automatically: the cause may not be the release at all.
    throw new RolledBackError(
      `${target.version}, put back in ${o.stage}, breaches too (${applied.watch?.breach}): the cause may not be the release`,
    );
  }
}

export async function rollback(o: RollbackOptions): Promise<void> {
  const stage = parseStage(o.stage, 'ENV');
  if (stage === 'dev') throw new PromoteError('dev runs the image it builds: to run an older one, deploy dev from that commit');
  if (!o.reason.trim())
    throw new PromoteError('REASON is required: `make rollback ENV=prod REASON="5xx after 0.1.2"` (it goes into the ledger)');
  if (o.toVersion) checkVersion(o.toVersion, 'TO_VERSION');
  await withStageLock(o.root, stage, { user: o.user, command: `rollback ${stage}` }, async () => {
    requireCommitted(o.root, [path.basename(stackFilePath(o.root, stage)), LEDGER_FILE]);
    await rollbackLocked({ ...o, stage });
  });
}

/** `make unmark-bad VERSION=x REASON=…`: `make promote` takes the version again; recorded in the ledger. */
export function unmarkBad(o: { root: string; version: string; reason: string; user: string; log: (line: string) => void }): void {
  checkVersion(o.version, 'VERSION');
  if (!o.reason.trim()) throw new PromoteError('REASON is required: why the version is good after all (it goes into the ledger)');
  requireCommitted(o.root, [LEDGER_FILE]);
  const records = readLedger(o.root);
  if (!badVersions(records).has(o.version)) throw new PromoteError(`${o.version} is not marked bad`);
  const marking = records.filter((r) => r.markedBad === o.version).pop() as LedgerRecord;
  const record: LedgerRecord = {
    time: new Date().toISOString(),
    action: 'unmark-bad',
    version: o.version,
    digest: digestOf(marking.replaced?.ref ?? marking.ref),
    ref: marking.replaced?.ref ?? marking.ref,
    from: marking.to,
    to: marking.to,
    user: o.user,
    forced: [],
    deploy: false,
    reason: o.reason,
  };
  appendLedger(o.root, record);
  const subject = `Unmark ${o.version} as bad`;
  const commit = commitFiles(o.root, [LEDGER_FILE], [subject, '', o.reason, '', 'Event-Stack-Ledger: unmark-bad'].join('\n'), o.user);
  o.log(`${o.version} may be promoted again; recorded in ${LEDGER_FILE} and committed ${commit}`);
}
