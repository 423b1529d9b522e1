/**
 * The redis.conf the stacks deploy, run by a real redis-server on loopback: the password comes from the file
 * (never the command line), and Redis evicts at maxmemory instead of growing until the kernel kills it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, portOpen, startAndAwait, type Running } from '../../tools/stack/process';
import { redisConfig } from '../components/redis';
import { runIsolated } from './offline-run';
import { tempDir } from '../../tools/promote/test/fixtures';

let dir: string;
const running: Running[] = [];
beforeAll(() => (dir = tempDir('redis-config')));
afterAll(async () => {
  for (const r of running) await r.stop(5000);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** redis-server with the given configuration text, listening on loopback only (the file's own directives kept). */
async function serve(name: string, conf: string): Promise<{ port: number; pid: number }> {
  const port = await freePort();
  const file = path.join(dir, `${name}.conf`);
  fs.writeFileSync(file, `${conf}port ${port}\nbind 127.0.0.1\ndir ${dir}\n`, { mode: 0o600 });
  const proc = await startAndAwait(name, 'redis-server', [file], path.join(dir, `${name}.log`), () => portOpen(port));
  running.push(proc);
  return { port, pid: proc.child.pid! };
}

/** redis-cli with the password in REDISCLI_AUTH (not on its own command line either). */
function cli(port: number, password: string | undefined, ...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(port), ...args], {
    env: { ...process.env, ...(password ? { REDISCLI_AUTH: password } : {}) },
    encoding: 'utf8',
  }).trim();
}

async function devRedisConf(): Promise<string> {
  const run = await runIsolated('dev');
  const secret = run.kubernetesObjects.find((o) => o.kind === 'Secret' && o.metadata.name === 'redis-config')!;
  return (secret.stringData as Record<string, string>)['redis.conf']!;
}

test("when redis-server runs dev's rendered redis.conf, then it requires the password, bounds memory from the limit and shows no secret in its command line", async () => {
  const conf = await devRedisConf();
  const password = /^requirepass (\S+)$/m.exec(conf)![1]!;
  const { port, pid } = await serve('dev', conf);
  expect(cli(port, undefined, 'PING')).toMatch(/NOAUTH/);
  expect(cli(port, password, 'PING')).toBe('PONG');
  // dev limits Redis to 128Mi: three quarters of it for data.
  expect(cli(port, password, 'CONFIG', 'GET', 'maxmemory').split('\n')[1]).toBe(String(0.75 * 128 * 2 ** 20));
  expect(cli(port, password, 'CONFIG', 'GET', 'maxmemory-policy').split('\n')[1]).toBe('allkeys-lru');
  expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(password);
}, 60000);

test('when more data arrives than maxmemory allows, then Redis evicts keys and stays within its bound', async () => {
  const password = 'p'.repeat(32);
  const { port } = await serve('small', redisConfig(password, '8Mi'));
  const value = 'x'.repeat(10_000);
  // 2,000 SETs of 10 kB (20 MB) through one pipe: more than twice the 6 MiB bound.
  const commands = Array.from(
    { length: 2000 },
    (_, i) => `*3\r\n$3\r\nSET\r\n$${`k${i}`.length}\r\nk${i}\r\n$${value.length}\r\n${value}\r\n`,
  );
  execFileSync('redis-cli', ['-p', String(port), '--pipe'], { input: commands.join(''), env: { ...process.env, REDISCLI_AUTH: password } });
  const info = cli(port, password, 'INFO', 'stats') + cli(port, password, 'INFO', 'memory');
  expect(Number(/evicted_keys:(\d+)/.exec(info)![1])).toBeGreaterThan(0);
  expect(Number(/used_memory:(\d+)/.exec(info)![1])).toBeLessThanOrEqual(0.75 * 8 * 2 ** 20);
}, 60000);
