/**
 * Starting, awaiting and stopping real programs on loopback: the one module behind the test
 * harness, `make local` and every end-to-end test.
 */
import { ChildProcess, spawn, SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface Running {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Sends SIGTERM (then SIGKILL after `graceMs`) and resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it resolves true, or throws after `timeoutMs` with `what` in the message. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(everyMs);
  }
  const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
}

/** True when something accepts TCP connections on host:port. */
export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** True when GET url answers with a 2xx status. */
export async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** Finds an executable by name on PATH or in extra directories; undefined when absent. */
export function findExecutable(names: string[], extraDirs: string[] = []): string | undefined {
  const dirs = [...extraDirs, ...(process.env.PATH ?? '').split(path.delimiter)];
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      } catch {
        /* keep looking */
      }
    }
  }
  return undefined;
}

/** Finds an executable or throws an error that says which package provides it. */
export function requireExecutable(names: string[], debianPackage: string, extraDirs: string[] = []): string {
  const found = findExecutable(names, extraDirs);
  if (!found) {
    throw new Error(`${names[0]} not found: install it (Debian/Ubuntu: apt-get install ${debianPackage}, or run \`make bootstrap\`)`);
  }
  return found;
}

/** Spawns a long-running program with its output appended to `logFile`. */
export function startProcess(name: string, command: string, args: string[], logFile: string, options: SpawnOptions = {}): Running {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const out = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', out, out], ...options });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.once('error', () => undefined);
  return {
    name,
    child,
    logFile,
    async stop(graceMs = 10000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Tail of a log file, for error messages when a program failed to start. */
export function logTail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts a program and waits until `ready()` says so; on failure stops it and reports its log. */
export async function startAndAwait(
  name: string,
  command: string,
  args: string[],
  logFile: string,
  ready: () => Promise<boolean>,
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<Running> {
  const { timeoutMs = 30000, ...spawnOptions } = options;
  const proc = startProcess(name, command, args, logFile, spawnOptions);
  let exit: string | undefined;
  proc.child.once('exit', (code, signal) => (exit = signal ? `signal ${signal}` : `exit code ${code}`));
  try {
    // An exit ends the wait at once: waitFor retries a check that throws, which would wait out the whole timeout.
    await waitFor(name, async () => exit !== undefined || ready(), timeoutMs);
    if (exit !== undefined) throw new Error(`${name} exited during start-up (${exit})`);
  } catch (err) {
    await proc.stop(2000);
    throw new Error(`${(err as Error).message}\n--- ${logFile} ---\n${logTail(logFile)}`);
  }
  return proc;
}
