/**
 * Entry point of `make promote`, `make rollback`, `make unmark-bad`, `make unlock`, `make up`, `make preview`,
 * `make status` and `make release` (run by tsx):
 *   cli.ts promote --version X [--to STAGE] [--deploy 0|1] [--force 0|1] [--watch 0|1] [--poll-seconds N] [--root DIR]
 *   cli.ts rollback --stack STAGE --reason TEXT [--to-version X] [--deploy 0|1] [--watch 0|1] [--poll-seconds N]
 *   cli.ts unmark-bad --version X --reason TEXT
 *   cli.ts unlock --stack STAGE           (breaks a lock left by a killed promotion)
 *   cli.ts up|preview --stack STAGE [--root DIR]
 *   cli.ts backend --stack STAGE          (checks PULUMI_BACKEND_URL for that stage only)
 *   cli.ts status [--root DIR] [-v]
 *   cli.ts release [--bump patch|minor|major] [--root DIR]
 * Exit codes (EXIT_CODES; docs/deploy.md): 0 done (or nothing to do), 2 bad input or refused deploy (backend,
 * never promoted…), 3 refused (FORCE=1 overrides a rule or a gate; not a bad version or a held lock), 4 deploy
 * failed (or the watch could not judge), 5 rolled back by the watch.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkBackend, ensureLocalState } from './backend';
import { deployStack } from './deploy';
import { PromoteError } from './errors';
import { gitUser } from './ledger';
import { ciIdentity, promote, upRecorded } from './promote';
import { breakLock } from './repo';
import { rollback, unmarkBad } from './rollback';
import { CHANGELOG, release } from './release';
import { parseStage } from './stages';
import { formatStatus, stageStatuses } from './status';

function flag(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  if (['1', 'true', 'yes'].includes(value)) return true;
  if (['0', 'false', 'no'].includes(value)) return false;
  throw new PromoteError(`${name}=${value}: expected 1 or 0`);
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      root: { type: 'string', default: '.' },
      version: { type: 'string', default: '' },
      to: { type: 'string', default: '' },
      deploy: { type: 'string' },
      force: { type: 'string' },
      bump: { type: 'string', default: 'patch' },
      stack: { type: 'string', default: '' },
      watch: { type: 'string' },
      'poll-seconds': { type: 'string', default: '' },
      reason: { type: 'string', default: '' },
      'to-version': { type: 'string', default: '' },
      verbose: { type: 'boolean', short: 'v', default: false },
    },
  });
  const root = path.resolve(values.root);
  const command = positionals[0];
  const log = (line: string) => console.log(line);
  const pollSeconds = values['poll-seconds'] ? Number(values['poll-seconds']) : undefined;
  if (pollSeconds !== undefined && !(pollSeconds > 0))
    throw new PromoteError(`POLL_SECONDS=${values['poll-seconds']}: expected seconds > 0`);
  const watch = flag('WATCH', values.watch, true);
  if (command === 'promote') {
    await promote({
      root,
      version: values.version,
      to: values.to,
      deploy: flag('DEPLOY', values.deploy, true),
      force: flag('FORCE', values.force, false),
      watch,
      pollSeconds,
    });
  } else if (command === 'rollback') {
    await rollback({
      root,
      stage: values.stack,
      reason: values.reason,
      toVersion: values['to-version'] || undefined,
      deploy: flag('DEPLOY', values.deploy, true),
      watch,
      pollSeconds,
      env: process.env,
      log,
      user: ciIdentity(process.env) ?? gitUser(root),
    });
  } else if (command === 'unmark-bad') {
    unmarkBad({ root, version: values.version, reason: values.reason, user: ciIdentity(process.env) ?? gitUser(root), log });
  } else if (command === 'unlock') {
    console.log(breakLock(root, parseStage(values.stack, 'stack ENV')));
  } else if (command === 'up' && values.stack !== 'dev') {
    // A pinned stage's deploy is recorded like a promotion: the retry after a failed one leaves a trace.
    await upRecorded({
      root,
      stage: parseStage(values.stack, 'stack ENV'),
      env: process.env,
      log,
      user: ciIdentity(process.env) ?? gitUser(root),
      watch,
      pollSeconds,
    });
  } else if (command === 'up' || command === 'preview') {
    const stage = parseStage(values.stack, 'stack ENV');
    deployStack({ root, stage, preview: command === 'preview', env: process.env, log });
  } else if (command === 'backend') {
    // `make destroy/outputs/admin-token` talk to the state too: the same backend rules.
    ensureLocalState(checkBackend(parseStage(values.stack, 'stack ENV'), process.env));
  } else if (command === 'status') {
    console.log(formatStatus(await stageStatuses(root), { verbose: values.verbose }));
  } else if (command === 'release') {
    const r = release({ root, bump: values.bump || 'patch' });
    if (r.firstRelease)
      console.log(
        `release: no v* tag yet, so this first release lists every commit since the first one (once: later releases start at the last tag)`,
      );
    console.log(`release: ${r.from} → ${r.to} in app/package.json and package-lock.json; ${CHANGELOG} lists ${r.changes.length} commit(s)`);
    console.log(`release: committed "Release ${r.to}" and tagged ${r.tag} (annotated)`);
    console.log(`next: git push --follow-tags; the next dev build (pulumi up --stack dev) produces image version ${r.to}`);
  } else {
    throw new PromoteError(
      `unknown command "${command ?? ''}": expected promote, rollback, unmark-bad, unlock, up, preview, backend, status or release`,
    );
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof PromoteError) {
    // Named after what the person ran: make promote, up, preview, outputs (backend)… all come through here.
    console.error(`${process.argv[2] === 'backend' ? 'backend' : (process.argv[2] ?? 'promote')}: ${err.message}`);
    process.exitCode = err.exitCode;
    return;
  }
  console.error(err);
  process.exitCode = 1;
});
