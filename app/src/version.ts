/** The release version (one source: app/package.json) and the commit this build came from. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };

export const version: string = pkg.version;

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: __dirname, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}

/** GIT_COMMIT from the build environment (the image sets it), else the checkout's HEAD. */
export const commit: string = process.env.GIT_COMMIT?.trim() || gitCommit();
