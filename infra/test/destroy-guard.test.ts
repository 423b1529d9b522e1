/** `make destroy` refuses the stacks that retain their database and archive, unless ALLOW_DATA_LOSS=1. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { stackFile } from '../offline';
import { destroyRefusal } from '../scripts/destroy-guard';

const ROOT = path.resolve(__dirname, '..', '..');

test('when a stack retains its database (staging), then destroy is refused, and ALLOW_DATA_LOSS=1 lets it through', () => {
  const config = stackFile('staging').config;
  expect(destroyRefusal('staging', config, {})).toMatch(/^destroy: stack staging retains its database and WAL archive/);
  expect(destroyRefusal('staging', config, { ALLOW_DATA_LOSS: '1' })).toBeUndefined();
});

test('when a stack does not retain its database (dev, qa) or has none in the cluster (prod), then destroy is not refused', () => {
  for (const stack of ['dev', 'qa', 'prod'])
    expect({ stack, refusal: destroyRefusal(stack, stackFile(stack).config, {}) }).toEqual({ stack });
});

test('when make destroy runs, then the guard runs before Pulumi, and it exits 1 with the refusal for staging', () => {
  const plan = spawnSync('make', ['-n', 'destroy', 'ENV=staging', 'YES=1'], { cwd: ROOT, encoding: 'utf8' }).stdout;
  const guard = plan.indexOf('infra/scripts/destroy-guard.ts staging');
  expect(guard).toBeGreaterThan(-1);
  expect(guard).toBeLessThan(plan.indexOf('pulumi destroy'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'infra/scripts/destroy-guard.ts', 'staging'], {
    cwd: ROOT,
    env: { ...process.env, ALLOW_DATA_LOSS: '' },
    encoding: 'utf8',
  });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('destroy: stack staging retains its database and WAL archive');
});
