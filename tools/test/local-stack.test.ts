/**
 * The ports of `make local` have one source, tools/stack/local-stack.ts: `make local` starts on them and
 * `make maintenance` connects to them, each moved by the same LOCAL_<NAME>_PORT variable.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_LOCAL_PORTS, localPorts, localUrls, portVariable, type LocalProgram } from '../stack/local-stack';

const ROOT = path.resolve(__dirname, '..', '..');
const url = (name: string, env: NodeJS.ProcessEnv = {}) =>
  spawnSync('npx', ['--no-install', 'tsx', 'tools/stack/local-stack.ts', 'url', name], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });

test('when a LOCAL_<NAME>_PORT is set, then that program moves and the others stay on their defaults', () => {
  expect(portVariable('postgresExporter')).toBe('LOCAL_POSTGRES_EXPORTER_PORT');
  const ports = localPorts({ LOCAL_POSTGRES_EXPORTER_PORT: '19187', LOCAL_APP_PORT: '18080' });
  expect(ports).toEqual({ ...DEFAULT_LOCAL_PORTS, postgresExporter: 19187, app: 18080 });
  expect(() => localPorts({ LOCAL_REDIS_PORT: '70000' })).toThrow('LOCAL_REDIS_PORT must be a port number, got 70000');
});

test('when make maintenance needs the local stack, then it gets the URLs make local serves, with the same overrides', () => {
  expect(url('postgres').stdout).toBe(`${localUrls(localPorts({})).postgres}\n`);
  expect(url('pushgateway', { LOCAL_PUSHGATEWAY_PORT: '19091' }).stdout).toBe('http://127.0.0.1:19091\n');
  expect(url('postgres', { LOCAL_POSTGRES_PORT: 'x' })).toMatchObject({
    status: 2,
    stderr: 'local-stack: LOCAL_POSTGRES_PORT must be a port number, got x\n',
  });
  const maintenance = spawnSync('make', ['-n', '-o', 'build', 'maintenance'], { cwd: ROOT, encoding: 'utf8' }).stdout;
  expect(maintenance).toContain('DATABASE_URL="${DATABASE_URL:-$(npx --no-install tsx tools/stack/local-stack.ts url postgres)}"');
  expect(maintenance).toContain('PUSHGATEWAY_URL="${PUSHGATEWAY_URL-$(npx --no-install tsx tools/stack/local-stack.ts url pushgateway)}"');
});

test('when the Makefile, mk/ or tools/local.ts is read, then no port of the local stack is written there again', () => {
  const files = ['Makefile', 'tools/local.ts', ...fs.readdirSync(path.join(ROOT, 'mk')).map((f) => `mk/${f}`)];
  const ports = Object.entries(DEFAULT_LOCAL_PORTS) as [LocalProgram, number][];
  const found = files.flatMap((f) => {
    const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
    return ports.filter(([, port]) => new RegExp(`\\b${port}\\b`).test(text)).map(([program]) => `${f}: ${program}`);
  });
  expect(found).toEqual([]);
});
