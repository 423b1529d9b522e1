/**
 * What dev runs. Dev pins no image in its stack file (it builds one), so the answer comes from the
 * dev stack's outputs, or — where the Pulumi CLI is missing — from DEV_IMAGE_REF (and DEV_VERSION).
 */
import { PromoteError } from './errors';
import { PulumiCli } from './pulumi-cli';
import { checkVersion } from './semver';
import { Image, isDigestRef } from './stack-files';

export interface DevImage extends Image {
  /** Where the answer came from, for messages. */
  source: string;
}

export function resolveDevImage(pulumi: PulumiCli, env: NodeJS.ProcessEnv, assumedVersion?: string): DevImage {
  const ref = env.DEV_IMAGE_REF;
  if (ref) {
    if (!isDigestRef(ref)) throw new PromoteError(`DEV_IMAGE_REF "${ref}" is not a digest-pinned reference (<repository>@sha256:<64 hex>)`);
    const version = env.DEV_VERSION || assumedVersion;
    return { ref, version: checkVersion(version ?? '', 'DEV_VERSION'), source: 'DEV_IMAGE_REF' };
  }
  if (!pulumi.available) {
    throw new PromoteError(
      "cannot tell what dev runs: the Pulumi CLI (`pulumi`) is not on PATH to read the dev stack's outputs. " +
        "Install it, or name dev's image yourself: DEV_IMAGE_REF=<repository>@sha256:<64 hex> [DEV_VERSION=x.y.z]",
    );
  }
  return { ...pulumi.devImage(), source: 'dev stack outputs' };
}
