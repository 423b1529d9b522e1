/** Starts the real service in-process on port 0 against the harness's Postgres and Redis. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { startService, Service } from '../src/app';
import { Config, loadConfig } from '../src/config';
import { createLogger } from '../src/observability/logger';

export const ADMIN_TOKEN = `admin-${randomBytes(24).toString('hex')}`;

export function testEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const need = (name: string) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set: run tests through jest (its global setup starts the services)`);
    return v;
  };
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: need('TEST_DATABASE_URL'),
    REDIS_URL: need('TEST_REDIS_URL'),
    ADMIN_TOKEN,
    LOG_LEVEL: 'debug',
    SHUTDOWN_GRACE_MS: '5000',
    ...overrides,
  };
}

export interface TestService extends Service {
  config: Config;
  /** Every log line this instance wrote, parsed. */
  logs(): Array<Record<string, unknown>>;
  /** The raw log text. */
  logText(): string;
}

/** Every log line of every test instance also goes here, for run-wide checks (no secrets logged). */
function runLogFile(): string | undefined {
  const dir = process.env.TEST_STACK_DIR;
  return dir ? path.join(dir, 'service-logs.jsonl') : undefined;
}

export async function startTestService(overrides: Record<string, string> = {}): Promise<TestService> {
  const config = loadConfig(testEnv(overrides));
  const chunks: string[] = [];
  const file = runLogFile();
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString();
      chunks.push(text);
      if (file) fs.appendFileSync(file, text);
      cb();
    },
  });
  const logger = createLogger(config.LOG_LEVEL, sink);
  const service = await startService(config, logger);
  const logText = () => chunks.join('');
  return {
    ...service,
    config,
    logText,
    logs: () =>
      logText()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
