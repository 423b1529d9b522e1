import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { loadConfig, ConfigError, settings } from '../src/config';
import { testEnv } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

/** `node --import tsx` is one process: if a wrong setting were accepted, the timeout ends the server itself. */
function runServer(env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'app', 'src', 'server.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 10000,
    killSignal: 'SIGKILL',
  });
}

describe('configuration', () => {
  it('when PORT is not a number, then the process exits 2 naming PORT', () => {
    const res = runServer({ ...testEnv(), PORT: 'abc' });
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/^config error: PORT: /m);
  });

  it('when PORT is empty, then the process exits 2 naming PORT instead of binding a random port', () => {
    const res = runServer({ ...testEnv(), PORT: '' });
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/^config error: PORT: must be a whole number/m);
  });

  it('when ADMIN_TOKEN ends with a newline, then the process exits 2 naming ADMIN_TOKEN, without printing it', () => {
    const token = `${testEnv().ADMIN_TOKEN}\n`;
    const res = runServer({ ...testEnv(), ADMIN_TOKEN: token });
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/^config error: ADMIN_TOKEN: must be printable ASCII/m);
    expect(res.stderr).not.toContain(token.trim());
  });

  it.each([
    ['a space inside', `admin ${'0123456789abcdef'.repeat(2)}`],
    ['a non-ASCII character', `admin-é${'0123456789abcdef'.repeat(2)}`],
    ['one character repeated', 'a'.repeat(48)],
    ['few distinct characters', 'abab'.repeat(12)],
    ['too short', 'x7Hq9'],
  ])('when ADMIN_TOKEN has %s, then the configuration is refused naming ADMIN_TOKEN', (_what, token) => {
    expect(() => loadConfig(testEnv({ ADMIN_TOKEN: token }))).toThrow(/ADMIN_TOKEN: /);
  });

  it('when DATABASE_URL is missing, then the process exits 2 naming DATABASE_URL', () => {
    const env = testEnv();
    delete env.DATABASE_URL;
    const res = runServer(env);
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/^config error: DATABASE_URL: required but not set/m);
  });

  it('reports every problem at once, one line each, and never prints a secret value', () => {
    const env: NodeJS.ProcessEnv = { ...testEnv(), PORT: '70000', ADMIN_TOKEN: 'short-secret', LOG_LEVEL: 'loud' };
    delete env.REDIS_URL;
    const res = runServer(env);
    expect(res.status).toBe(2);
    const lines = res.stderr.trim().split('\n');
    expect(lines.map((l) => l.split(':')[1]?.trim()).sort()).toEqual(['ADMIN_TOKEN', 'LOG_LEVEL', 'PORT', 'REDIS_URL']);
    expect(res.stderr).not.toContain('short-secret');
  });

  it('refuses settings that contradict one another, naming each', () => {
    const err = (() => {
      try {
        loadConfig(testEnv({ DB_POOL_MAX: '4', INGEST_MAX_CONCURRENT_FLUSHES: '4', INGEST_QUEUE_MAX_ROWS: '10', DEDUPE_WINDOW_DAYS: '1' }));
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('loadConfig accepted contradicting settings');
    })();
    expect(err.problems.map((p) => p.split(':')[0])).toEqual([
      'INGEST_MAX_CONCURRENT_FLUSHES',
      'INGEST_QUEUE_MAX_ROWS',
      'DEDUPE_WINDOW_DAYS',
    ]);
    expect(() => loadConfig(testEnv({ DB_POOL_MAX: '5', INGEST_MAX_CONCURRENT_FLUSHES: '4' }))).not.toThrow();
  });
});

describe('configuration defaults and documentation', () => {
  it('applies the documented defaults', () => {
    const env = testEnv();
    delete env.PORT;
    delete env.LOG_LEVEL;
    const config = loadConfig(env);
    expect(config.PORT).toBe(8080);
    expect(config.LOG_LEVEL).toBe('info');
  });

  it('every setting has a doc line, and no secret has a default value (at most empty, meaning off)', () => {
    for (const [name, s] of Object.entries(settings)) {
      expect(`${name}: ${s.doc}`.length).toBeGreaterThan(name.length + 10);
      if ('secret' in s && s.secret) expect('default' in s ? s.default : '').toBe('');
    }
    expect(() => loadConfig({})).toThrow(ConfigError);
  });
});

describe('process lifecycle', () => {
  it('when SIGTERM arrives, then the process logs a clean shutdown and exits 0', async () => {
    const child = spawn(TSX, [path.join(ROOT, 'app', 'src', 'server.ts')], {
      env: { PATH: process.env.PATH, ...testEnv({ LOG_LEVEL: 'info' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no start-up line: ${out}`)), 15000);
      child.stdout.on('data', () => out.includes('event-service started') && (clearTimeout(t), resolve()));
    });
    const started = JSON.parse(out.split('\n').find((l) => l.includes('event-service started')) ?? '{}') as Record<string, unknown>;
    expect(started).toMatchObject({ version: expect.any(String), config: expect.objectContaining({ PORT: 0 }) });
    expect(JSON.stringify(started)).not.toContain(testEnv().ADMIN_TOKEN as string);
    expect(JSON.stringify(started)).not.toContain('postgres://');
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
    expect(out).toContain('shutdown complete');
  });
});
