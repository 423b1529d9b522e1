/** Release versions: what is valid is decided once (infra/stack-schema.ts); order and bumps come from the `semver` package. */
import semver from 'semver';
import { versionProblem } from '../../infra/stack-schema';
import { PromoteError } from './errors';

export type Bump = 'major' | 'minor' | 'patch';

/** The version itself, or bad input (exit 2) naming what it is (`VERSION`, `DEV_VERSION`…). */
export function checkVersion(version: string, what: string): string {
  const problem = versionProblem(version);
  if (problem) throw new PromoteError(`${what} "${version}": ${problem}`);
  return version;
}

/** Negative when a < b, zero when equal in precedence, positive when a > b (semver.org §11). */
export const compareVersions = (a: string, b: string): number => semver.compare(a, b);

/** The version after a bump; a pre-release of x.y.z is released as x.y.z itself. */
export function bumpVersion(version: string, bump: Bump): string {
  const next = semver.inc(version, bump);
  if (!next) throw new PromoteError(`cannot bump "${version}" by ${bump}`);
  return next;
}
