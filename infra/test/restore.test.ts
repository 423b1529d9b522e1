/** `make restore ENV=… TARGET_TIME=…`: the point-in-time recovery Cluster, rendered and checked offline. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const ROOT = path.resolve(__dirname, '..', '..');
const restore = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'infra/scripts/restore.ts', ...args], { cwd: ROOT, encoding: 'utf8' });

test('when staging is restored to a time, then a recovery Cluster is written that passes the CRDs, the cluster semantics and the policy rules', () => {
  const r = restore('staging', '2026-12-01T10:30:00Z');
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  expect(r.stdout).toContain('the CRDs, the cluster-semantics checks (Pod Security, network flows) and the policy rules hold');
  const file = path.join(ROOT, 'out', 'restore', 'staging', 'cluster-postgres-pitr-20261201103000.yaml');
  const cluster = parse(fs.readFileSync(file, 'utf8'));
  expect(cluster.spec.bootstrap.recovery.recoveryTarget).toEqual({ targetTime: '2026-12-01T10:30:00Z' });
  expect(cluster.spec.instances).toBe(2);
}, 120_000);

test('when the target time is not RFC 3339, or the stack has a managed database, then restore refuses with the reason', () => {
  const badTime = restore('qa', 'yesterday');
  expect(badTime.status).toBe(1);
  expect(badTime.stderr).toContain('event-stack:postgres.recovery.targetTime: must be an RFC 3339 time');
  const managed = restore('prod', '2026-12-01T10:30:00Z');
  expect(managed.status).toBe(1);
  expect(managed.stderr).toContain("restore it with the provider's point-in-time recovery");
}, 120_000);
