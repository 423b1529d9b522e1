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

  it("when a Node process starts with the image's options, then its heap limit is the image's, whatever memory the machine has", () => {
    // Without --max-old-space-size V8 sizes the old generation from the memory it sees: 256 MB in the stacks'
    // 256–512Mi containers, 4 GB on a 24 GB machine (where it lets the heap grow to 4× what is live).
    const limitMb = (env: NodeJS.ProcessEnv) => {
      const run = spawnSync(process.execPath, ['-e', "console.log(require('node:v8').getHeapStatistics().heap_size_limit)"], {
        env,
        encoding: 'utf8',
      });
      expect(run.stderr).toBe('');
      return Number(run.stdout.trim()) / 2 ** 20;
    };
    const flag = (name: string) => Number(new RegExp(`--${name}=(\\d+)`).exec(imageNodeOptions())?.[1]);
    const oldSpace = flag('max-old-space-size');
    const semiSpace = flag('max-semi-space-size');
    expect(oldSpace).toBeGreaterThan(0);
    expect(semiSpace).toBeGreaterThan(0);
    // The limit is the old generation plus the young one (three semi-spaces), nothing taken from the machine.
    expect(limitMb(withImageNodeOptions({ PATH: process.env.PATH }))).toBe(oldSpace + 3 * semiSpace);
  });

  it('when the environment already sets NODE_OPTIONS (even empty), then it is kept, as a container setting would be', () => {
    expect(withImageNodeOptions({ NODE_OPTIONS: '--max-old-space-size=300' }).NODE_OPTIONS).toBe('--max-old-space-size=300');
    expect(withImageNodeOptions({ NODE_OPTIONS: '' }).NODE_OPTIONS).toBe('');
    expect(withImageNodeOptions({}).NODE_OPTIONS).toBe(imageNodeOptions());
  });

  it('when the Dockerfile sets no NODE_OPTIONS in its runtime stage, or writes it in a way this reader would misread, then reading it fails with a clear error', () => {
    const build = 'FROM node AS build\nENV NODE_OPTIONS=--build-only\n';
    const runtime = (env: string) => `${build}FROM node AS runtime\nENV NODE_ENV=production ${env}\n`;
    expect(() => imageNodeOptions(`${build}FROM node AS runtime\nENV NODE_ENV=production\n`)).toThrow(/runtime stage sets no NODE_OPTIONS/);
    for (const bad of [
      "NODE_OPTIONS='--a --b'",
      'NODE_OPTIONS="--a --b',
      'NODE_OPTIONS=--a\\ --b',
      'NODE_OPTIONS="--a=$X"',
      'NODE_OPTIONS=""',
      'NODE_OPTIONS=',
    ])
      expect(() => imageNodeOptions(runtime(bad))).toThrow(/write NODE_OPTIONS as --flag or "--flag --flag"/);
    expect(imageNodeOptions(runtime('NODE_OPTIONS=--x=1 GIT=y'))).toBe('--x=1');
    expect(imageNodeOptions(runtime('NODE_OPTIONS="--x=1  --y=2" GIT=y'))).toBe('--x=1 --y=2');
    // An older revision's Dockerfile (the benchmark's "before" case) may set none: the caller says what that means.
    expect(imageNodeOptions(`${build}FROM node AS runtime\nENV NODE_ENV=production\n`, '')).toBe('');
    expect(() => imageNodeOptions(runtime("NODE_OPTIONS='--a --b'"), '')).toThrow(/write NODE_OPTIONS/);
  });
});
