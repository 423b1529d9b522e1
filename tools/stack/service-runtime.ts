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
 * NODE_OPTIONS as app/Dockerfile's runtime stage sets it. Throws if it is quoted, or if it is missing and no
 * `ifMissing` is given (an older revision's Dockerfile may set none).
 */
export function imageNodeOptions(dockerfile = fs.readFileSync(DOCKERFILE, 'utf8'), ifMissing?: string): string {
  const runtime = dockerfile.slice(dockerfile.search(/^FROM\s+\S+\s+AS\s+runtime\s*$/im));
  const env = /^ENV\s.*?\bNODE_OPTIONS=(\S+)/m.exec(runtime);
  if (!env && ifMissing !== undefined) return ifMissing;
  if (!env) throw new Error('app/Dockerfile: the runtime stage sets no NODE_OPTIONS (ENV NODE_OPTIONS=--flag …)');
  if (/["'\\]/.test(env[1]!)) throw new Error(`app/Dockerfile: write NODE_OPTIONS unquoted, one flag (got ${env[1]})`);
  return env[1]!;
}

/** The environment to start the service with: `env`, plus the image's NODE_OPTIONS unless `env` sets its own (even empty). */
export function withImageNodeOptions(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.NODE_OPTIONS !== undefined ? env : { ...env, NODE_OPTIONS: imageNodeOptions() };
}

if (require.main === module) console.log(imageNodeOptions());
