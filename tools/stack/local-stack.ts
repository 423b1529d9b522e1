/**
 * Where `make local` runs each program: its ports on 127.0.0.1 (fixed, each overridable with LOCAL_<NAME>_PORT)
 * and its data under .local/. The one source of both: tools/local.ts starts the stack from it, and the Makefile's
 * `make maintenance` asks it for the local database and Pushgateway (`tsx tools/stack/local-stack.ts url postgres`).
 */
import path from 'node:path';
import { PostgresServer } from './services';

export const LOCAL_DIR = path.join(__dirname, '..', '..', '.local');

export const DEFAULT_LOCAL_PORTS = {
  app: 8080,
  postgres: 54329,
  redis: 63799,
  prometheus: 9090,
  pushgateway: 9091,
  alertmanager: 9093,
  postgresExporter: 9187,
  redisExporter: 9121,
  alertsink: 9099,
  grafana: 3000,
};

export type LocalProgram = keyof typeof DEFAULT_LOCAL_PORTS;
export type LocalPorts = Record<LocalProgram, number>;

/** The variable that moves a program's port: postgresExporter → LOCAL_POSTGRES_EXPORTER_PORT. */
export function portVariable(program: LocalProgram): string {
  return `LOCAL_${program.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}_PORT`;
}

export function localPorts(env: NodeJS.ProcessEnv = process.env): LocalPorts {
  const port = (program: LocalProgram) => {
    const raw = env[portVariable(program)];
    const value = raw ? Number(raw) : DEFAULT_LOCAL_PORTS[program];
    if (!Number.isInteger(value) || value < 1 || value > 65535)
      throw new Error(`${portVariable(program)} must be a port number, got ${raw}`);
    return value;
  };
  return Object.fromEntries(Object.keys(DEFAULT_LOCAL_PORTS).map((p) => [p, port(p as LocalProgram)])) as LocalPorts;
}

/** The local PostgreSQL cluster (data in .local/postgres); constructing it starts nothing. */
export function localPostgres(ports: LocalPorts): PostgresServer {
  return new PostgresServer({ dir: path.join(LOCAL_DIR, 'postgres'), port: ports.postgres });
}

/** What `make maintenance` connects to unless DATABASE_URL / PUSHGATEWAY_URL say otherwise. */
export function localUrls(ports: LocalPorts): { postgres: string; pushgateway: string } {
  return { postgres: localPostgres(ports).url, pushgateway: `http://127.0.0.1:${ports.pushgateway}` };
}

function printUrl(args: string[]): number {
  const [command, name] = args;
  if (command !== 'url' || !(name === 'postgres' || name === 'pushgateway')) {
    console.error('local-stack: usage: local-stack.ts url postgres|pushgateway');
    return 2;
  }
  try {
    console.log(localUrls(localPorts())[name]);
    return 0;
  } catch (err) {
    console.error(`local-stack: ${(err as Error).message}`);
    return 2;
  }
}

if (require.main === module) process.exitCode = printUrl(process.argv.slice(2));
