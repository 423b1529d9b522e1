/**
 * The one way a stage's image changes, shared by promote and rollback: pin the image in the stack file,
 * `pulumi up` through the one door (policy pack included), watch the new version for the stage's bake time,
 * and append the ledger line with the outcome; the caller commits both files together.
 */
import fs from 'node:fs';
import path from 'node:path';
import { deployStack } from './deploy';
import { PromoteError } from './errors';
import { appendLedger, LEDGER_FILE, LedgerRecord } from './ledger';
import { commitFiles } from './repo';
import { digestOf, Image, StackFile, withPinnedImage } from './stack-files';
import { DEFAULT_POLL_SECONDS, watchDeploy, WatchResult } from './watch';

export interface ApplyContext {
  root: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  user: string;
  /** Run `pulumi up` (DEPLOY=1). */
  deploy: boolean;
  /** Watch the new version after the deploy (WATCH=1). */
  watch: boolean;
  pollSeconds?: number;
}

function writeFileAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

export type RecordDraft = Omit<LedgerRecord, 'time' | 'version' | 'digest' | 'ref' | 'to' | 'deploy' | 'user'>;

export interface Applied {
  record: LedgerRecord;
  watch?: WatchResult;
  /** Why `pulumi up` failed, when it did (the record says failed). */
  deployError?: PromoteError;
}

/** Pins `image` in `stack`'s file, deploys and watches it; returns the record to append (not yet appended). */
export async function applyImage(ctx: ApplyContext, stack: StackFile, image: Image, draft: RecordDraft): Promise<Applied> {
  const record: LedgerRecord = {
    time: new Date().toISOString(),
    version: image.version,
    digest: digestOf(image.ref),
    ref: image.ref,
    to: stack.stage,
    user: ctx.user,
    deploy: ctx.deploy,
    ...draft,
  };
  // `make up` deploys what the file pins already: nothing to write.
  if (stack.image?.ref !== image.ref || stack.image.version !== image.version) writeFileAtomic(stack.file, withPinnedImage(stack, image));
  if (!ctx.deploy) return { record: { ...record, outcome: 'not-deployed' } };
  try {
    deployStack({ root: ctx.root, stage: stack.stage, env: ctx.env, log: ctx.log });
  } catch (err) {
    if (!(err instanceof PromoteError)) throw err;
    return { record: { ...record, outcome: 'failed' }, deployError: err };
  }
  if (!ctx.watch) {
    ctx.log(`WATCH=0: ${image.version} in ${stack.stage} is not watched (recorded in the ledger)`);
    return { record: { ...record, outcome: 'deployed', watch: 'skipped' } };
  }
  const watch = await watchDeploy({
    stage: stack.stage,
    version: image.version,
    prometheusUrl: stack.prometheusUrl,
    prometheusStage: stack.prometheusStage,
    thresholds: stack.thresholds,
    pollSeconds: ctx.pollSeconds ?? DEFAULT_POLL_SECONDS,
    log: ctx.log,
  });
  const { judged, ...summary } = watch;
  const breached = judged && !watch.passed;
  return { record: { ...record, outcome: breached ? 'rolled-back' : 'deployed', watch: summary }, watch };
}

/** Appends the record and commits it with the stack file: one commit per change of a stage. */
export function recordAndCommit(ctx: ApplyContext, stack: StackFile, record: LedgerRecord, subject: string, body: string[]): string {
  appendLedger(ctx.root, record);
  // A trailer marks the commit as a deploy record: release notes leave these out.
  const message = [subject, '', ...body, '', `Event-Stack-Ledger: ${record.action ?? 'promote'}`].join('\n');
  const commit = commitFiles(ctx.root, [path.relative(ctx.root, stack.file), LEDGER_FILE], message, ctx.user);
  ctx.log(`recorded in ${LEDGER_FILE} and committed ${commit}: ${subject}`);
  return commit;
}
