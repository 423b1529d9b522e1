/**
 * The Node options the service runs with, read from the one place that sets them: the image
 * (`ENV NODE_OPTIONS=…` in app/Dockerfile). `make local`, `make start` (which runs this file)
 * and the benchmarks run the service outside the image with the same options, so what they measure is
 * what the image runs. A NODE_OPTIONS already in the environment wins, as it does in a container.
 */
import fs from 'node:fs';
import path from 'node:path';

const DOCKERFILE = path.join(__dirname, '..', '..', 'app', 'Dockerfile');

/**
 * NODE_OPTIONS as app/Dockerfile's runtime stage sets it: `NODE_OPTIONS=--flag` or `NODE_OPTIONS="--flag --flag"`.
 * Throws on any other quoting (single quotes, escapes, `$`: what Docker would expand, this does not), or if it is
 * missing and no `ifMissing` is given (an older revision's Dockerfile may set none).
 */
export function imageNodeOptions(dockerfile = fs.readFileSync(DOCKERFILE, 'utf8'), ifMissing?: string): string {
  const runtime = dockerfile.slice(dockerfile.search(/^FROM\s+\S+\s+AS\s+runtime\s*$/im));
  const line = /^ENV\s.*?\bNODE_OPTIONS=(.*)$/m.exec(runtime);
  if (!line && ifMissing !== undefined) return ifMissing;
  if (!line) throw new Error('app/Dockerfile: the runtime stage sets no NODE_OPTIONS (ENV NODE_OPTIONS=--flag …)');
  const raw = /^("[^"]*"|[^\s"]+)(?=\s|$)/.exec(line[1]!)?.[1];
  const value = raw?.startsWith('"') ? raw.slice(1, -1) : raw;
  if (!value?.trim() || /["'\\$]/.test(value))
    throw new Error(
      `app/Dockerfile: write NODE_OPTIONS as --flag or "--flag --flag", without escapes or variables (got NODE_OPTIONS=${line[1]!.trim()})`,
    );
  return value.trim().split(/\s+/).join(' ');
}

/** The environment to start the service with: `env`, plus the image's NODE_OPTIONS unless `env` sets its own (even empty). */
export function withImageNodeOptions(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.NODE_OPTIONS !== undefined ? env : { ...env, NODE_OPTIONS: imageNodeOptions() };
}

if (require.main === module) console.log(imageNodeOptions());
