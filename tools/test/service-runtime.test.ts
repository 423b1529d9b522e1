/**
 * The service's Node options come from one place, the image's `ENV NODE_OPTIONS` (app/Dockerfile);
 * `make local`, `make start` and the benchmarks start the service with them.
 */
import { spawnSync } from 'node:child_process';
import { imageNodeOptions, withImageNodeOptions } from '../stack/service-runtime';

describe('the service runtime options', () => {
  it("when a Node process starts with the image's options, then its young generation stays within 16 MB semi-spaces under allocation pressure", () => {
    // Allocate short-lived garbage for a while, then report the largest new-space size V8 reached.
    const script = `
      const v8 = require('node:v8');
      let max = 0, keep = [];
      for (let i = 0; i < 400; i++) {
        for (let j = 0; j < 20000; j++) keep.push({ i, j, s: 'x'.repeat(16) });
        keep = keep.slice(-5000);
        const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
        max = Math.max(max, ns.space_size);
      }
      console.log(max);`;
    const run = spawnSync(process.execPath, ['-e', script], { env: withImageNodeOptions({ PATH: process.env.PATH }), encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const maxNewSpace = Number(run.stdout.trim());
    expect(maxNewSpace).toBeGreaterThan(0);
    // new_space counts both semi-spaces. Without the option, Node 24 on a 24 GB machine reaches 64 MB here.
    expect(maxNewSpace).toBeLessThanOrEqual(2 * 16 * 2 ** 20);
  });

  it('when the environment already sets NODE_OPTIONS (even empty), then it is kept, as a container setting would be', () => {
    expect(withImageNodeOptions({ NODE_OPTIONS: '--max-old-space-size=300' }).NODE_OPTIONS).toBe('--max-old-space-size=300');
    expect(withImageNodeOptions({ NODE_OPTIONS: '' }).NODE_OPTIONS).toBe('');
    expect(withImageNodeOptions({}).NODE_OPTIONS).toBe(imageNodeOptions());
  });

  it('when the Dockerfile sets no NODE_OPTIONS in its runtime stage, or quotes it, then reading it fails with a clear error', () => {
    const build = 'FROM node AS build\nENV NODE_OPTIONS=--build-only\n';
    expect(() => imageNodeOptions(`${build}FROM node AS runtime\nENV NODE_ENV=production\n`)).toThrow(/runtime stage sets no NODE_OPTIONS/);
    expect(() => imageNodeOptions(`FROM node AS runtime\nENV NODE_OPTIONS="--a --b"\n`)).toThrow(/unquoted/);
    expect(imageNodeOptions(`${build}FROM node AS runtime\nENV NODE_ENV=production NODE_OPTIONS=--x=1 GIT=y\n`)).toBe('--x=1');
    // An older revision's Dockerfile (the benchmark's "before" case) may set none: the caller says what that means.
    expect(imageNodeOptions(`${build}FROM node AS runtime\nENV NODE_ENV=production\n`, '')).toBe('');
    expect(() => imageNodeOptions(`FROM node AS runtime\nENV NODE_OPTIONS="--a --b"\n`, '')).toThrow(/unquoted/);
  });
});
