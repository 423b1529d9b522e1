/** The dev stack's image: built from app/Dockerfile, tagged with the release version, pushed, referenced by digest. */
import * as path from 'node:path';
import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { REPO_ROOT } from '../monitoring';

export interface AppImageArgs {
  repository: string;
  dockerfile: string;
  context: string;
  version: string;
  /** Provenance for /version and the OCI labels (the Dockerfile's build arguments). */
  commit: string;
  created: string;
  source: string;
}

export class AppImage extends pulumi.ComponentResource {
  /** <repository>@sha256:… as pushed */
  readonly ref: pulumi.Output<string>;
  readonly version: string;

  constructor(name: string, args: AppImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super('event-stack:app:AppImage', name, {}, opts);
    const image = new docker.Image(
      `${name}-image`,
      {
        imageName: `${args.repository}:${args.version}`,
        build: {
          context: path.resolve(REPO_ROOT, args.context),
          dockerfile: path.resolve(REPO_ROOT, args.dockerfile),
          platform: 'linux/amd64',
          args: { VERSION: args.version, GIT_COMMIT: args.commit, CREATED: args.created, SOURCE: args.source },
        },
      },
      { parent: this },
    );
    this.ref = image.repoDigest;
    this.version = args.version;
    this.registerOutputs({ ref: this.ref, version: this.version });
  }
}
