/** `make admin-token ENV=<stack>`: the deployed stack's secret output, through the Pulumi CLI or a clear refusal. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DEPLOY_ENV, pathWithout, pulumiStub, REPO_ROOT, tempDir } from '../../tools/promote/test/fixtures';

let dir: string;
beforeAll(() => (dir = tempDir('admin-token')));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function make(vars: Record<string, string>, pathDirs: string[] = []) {
  const run = spawnSync('make', ['-s', 'admin-token', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...DEPLOY_ENV, PATH: pathWithout(pathDirs) },
    timeout: 30000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

test('when the Pulumi CLI is installed, then make admin-token reads the secret output adminToken of the stack, shown in clear', () => {
  const stub = pulumiStub(fs.mkdtempSync(path.join(dir, 'cli-')));
  stub.setOutputs({ token: 'from-the-stack' });
  const r = make({ ENV: 'prod' }, [stub.binDir]);
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('from-the-stack');
  expect(stub.calls()).toContainEqual(['stack', 'output', 'adminToken', '--show-secrets', '--stack', 'prod']);
});

test('when the Pulumi CLI is missing, then make admin-token says so and fails (make exits 2)', () => {
  const r = make({ ENV: 'qa' });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('admin-token: the Pulumi CLI is not installed');
});

test('when ENV names no stack, then make admin-token lists the stacks and exits 2', () => {
  const r = make({ ENV: 'production' });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('admin-token: ENV must be one of: dev qa staging prod (got "production")');
});
