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

const OPTIONS = {
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
} as const;

/** The parsed command line, with what several commands share worked out once. */
interface Args {
  values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];
  root: string;
  log: (line: string) => void;
  watch: boolean;
  pollSeconds?: number;
  /** Who the ledger names: the GitHub Actions run, else git's user. */
  user: () => string;
}

function parseCommandLine(argv: string[]): { command: string | undefined; args: Args } {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  const root = path.resolve(values.root);
  const pollSeconds = values['poll-seconds'] ? Number(values['poll-seconds']) : undefined;
  if (pollSeconds !== undefined && !(pollSeconds > 0))
    throw new PromoteError(`POLL_SECONDS=${values['poll-seconds']}: expected seconds > 0`);
  const args: Args = {
    values,
    root,
    log: (line: string) => console.log(line),
    watch: flag('WATCH', values.watch, true),
    pollSeconds,
    user: () => ciIdentity(process.env) ?? gitUser(root),
  };
  return { command: positionals[0], args };
}

const stageArg = (a: Args) => parseStage(a.values.stack, 'stack ENV');

async function promoteCommand({ root, values, watch, pollSeconds }: Args): Promise<void> {
  const deploy = flag('DEPLOY', values.deploy, true);
  await promote({ root, version: values.version, to: values.to, deploy, force: flag('FORCE', values.force, false), watch, pollSeconds });
}

async function rollbackCommand(a: Args): Promise<void> {
  await rollback({
    root: a.root,
    stage: a.values.stack,
    reason: a.values.reason,
    toVersion: a.values['to-version'] || undefined,
    deploy: flag('DEPLOY', a.values.deploy, true),
    watch: a.watch,
    pollSeconds: a.pollSeconds,
    env: process.env,
    log: a.log,
    user: a.user(),
  });
}

async function upCommand(a: Args): Promise<void> {
  if (a.values.stack === 'dev') return deployStack({ root: a.root, stage: 'dev', env: process.env, log: a.log });
  // A pinned stage's deploy is recorded like a promotion: the retry after a failed one leaves a trace.
  await upRecorded({
    root: a.root,
    stage: stageArg(a),
    env: process.env,
    log: a.log,
    user: a.user(),
    watch: a.watch,
    pollSeconds: a.pollSeconds,
  });
}

function releaseCommand({ root, values }: Args): void {
  const r = release({ root, bump: values.bump || 'patch' });
  if (r.firstRelease)
    console.log(
      `release: no v* tag yet, so this first release lists every commit since the first one (once: later releases start at the last tag)`,
    );
  console.log(`release: ${r.from} → ${r.to} in app/package.json and package-lock.json; ${CHANGELOG} lists ${r.changes.length} commit(s)`);
  console.log(`release: committed "Release ${r.to}" and tagged ${r.tag} (annotated)`);
  console.log(`next: git push --follow-tags; the next dev build (pulumi up --stack dev) produces image version ${r.to}`);
}

const COMMANDS: Record<string, (a: Args) => Promise<void> | void> = {
  promote: promoteCommand,
  rollback: rollbackCommand,
  'unmark-bad': (a) => unmarkBad({ root: a.root, version: a.values.version, reason: a.values.reason, user: a.user(), log: a.log }),
  unlock: (a) => console.log(breakLock(a.root, stageArg(a))),
  up: upCommand,
  preview: (a) => deployStack({ root: a.root, stage: stageArg(a), preview: true, env: process.env, log: a.log }),
  // `make destroy/outputs/admin-token` talk to the state too: the same backend rules.
  backend: (a) => ensureLocalState(checkBackend(stageArg(a), process.env)),
  status: async (a) => console.log(formatStatus(await stageStatuses(a.root), { verbose: a.values.verbose })),
  release: releaseCommand,
};

async function main(argv: string[]): Promise<void> {
  const { command, args } = parseCommandLine(argv);
  if (command === undefined || !Object.hasOwn(COMMANDS, command)) {
    const names = Object.keys(COMMANDS);
    throw new PromoteError(`unknown command "${command ?? ''}": expected ${names.slice(0, -1).join(', ')} or ${names.at(-1)}`);
  }
  const run = COMMANDS[command]!;
  await run(args);
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
