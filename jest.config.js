/**
 * Two jest projects in one run. `integration`: the test files that use the harness's PostgreSQL and Redis
 * (they read TEST_DATABASE_URL, TEST_SERVICE_DATABASE_URL, TEST_REDIS_URL or the stack itself, directly or
 * through a helper they import); its global setup starts them once. `unit`: every other test file, which
 * starts nothing (`npx jest --selectProjects unit`, or `make test-unit`). The split is read from the files
 * themselves, so a new test lands in the right project without being listed.
 */
const fs = require('node:fs');
const path = require('node:path');

const HARNESS = /\bTEST_(DATABASE|SERVICE_DATABASE|REDIS)_URL\b|\bTEST_STACK_DIR\b|__TEST_STACK__/;
const RELATIVE_IMPORT = /(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;
const IGNORED = /\/(node_modules|dist|\.local|\.tools|out)\//;

/** Whether `file`, or a module of this repository it imports (transitively), uses the harness. */
function usesHarness(file, seen = new Set()) {
  if (seen.has(file)) return false;
  seen.add(file);
  const source = fs.readFileSync(file, 'utf8');
  if (HARNESS.test(source)) return true;
  for (const [, spec] of source.matchAll(RELATIVE_IMPORT)) {
    const base = path.resolve(path.dirname(file), spec);
    const found = [base, `${base}.ts`, `${base}.js`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
    if (found && usesHarness(found, seen)) return true;
  }
  return false;
}

function testFiles(dir, out = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!entry.name.startsWith('.') && !IGNORED.test(`${full}/`)) testFiles(full, out);
    } else if (entry.name.endsWith('.test.ts') && full.split(path.sep).includes('test')) out.push(full);
  }
  return out;
}

const all = testFiles(__dirname);
const integration = all.filter((f) => usesHarness(f));
const unit = all.filter((f) => !integration.includes(f));
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.local/'],
};

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 30000,
  projects: [
    { ...common, displayName: 'unit', rootDir: __dirname, testMatch: unit },
    {
      ...common,
      displayName: 'integration',
      rootDir: __dirname,
      testMatch: integration,
      globalSetup: '<rootDir>/tools/test/global-setup.ts',
      globalTeardown: '<rootDir>/tools/test/global-teardown.ts',
    },
  ],
};
