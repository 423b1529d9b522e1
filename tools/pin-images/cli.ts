/**
 * Entry point of `make pin-images [ENV=<stack>]` (all stacks when ENV is empty):
 *   cli.ts [--env STACK] [--root DIR]
 * Exit codes: 0 pinned (or nothing to pin), 2 bad input (unknown stack, unresolvable tag, registry error): no file changed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { STAGES } from '../promote/stages';
import { planPins, writePins } from './pin';
import { ResolveError } from './registry';

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { env: { type: 'string', default: '' }, root: { type: 'string', default: '.' } } });
  const root = path.resolve(values.root);
  const env = values.env.trim();
  if (env && !(STAGES as readonly string[]).includes(env))
    throw new ResolveError(`unknown stack "${env}": expected one of ${STAGES.join(', ')} (or no ENV for all)`);
  const stacks = env ? [env] : [...STAGES];
  const files = stacks.map((s) => path.join(root, `Pulumi.${s}.yaml`));
  for (const f of files) if (!fs.existsSync(f)) throw new ResolveError(`${path.basename(f)} not found in ${root}`);

  const outcomes = await planPins(files);
  writePins(outcomes);
  for (const o of outcomes) {
    const name = path.basename(o.file);
    for (const p of o.pinned) {
      console.log(`${name} ${p.key}: ${p.to} (${p.resolved.index ? 'image index: every platform' : 'single-platform manifest'})`);
    }
    if (o.alreadyPinned.length) console.log(`${name}: ${o.alreadyPinned.length} image(s) already pinned, left as they are`);
    if (!o.pinned.length && !o.alreadyPinned.length) console.log(`${name}: no third-party images`);
  }
  const changed = outcomes.filter((o) => o.text !== undefined).map((o) => path.basename(o.file));
  console.log(
    changed.length
      ? `pin-images: changed ${changed.join(', ')}: review the digests, commit, then deploy/promote`
      : 'pin-images: nothing to pin',
  );
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ResolveError) {
    console.error(`pin-images: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  console.error(err);
  process.exitCode = 1;
});
