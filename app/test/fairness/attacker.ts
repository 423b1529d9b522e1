/**
 * The attacking side of a fairness test, in a process of its own so that its work is not done on the
 * service's event loop: `node --import tsx attacker.ts '<plan JSON>'`. It prints "ready", reads the attack
 * windows (epoch ms) as one JSON line on stdin, attacks within them only, and prints its status counts.
 */
import net from 'node:net';

export type AttackPlan =
  | {
      kind: 'http';
      url: string;
      method?: string;
      headers?: Record<string, string>;
      bodyBase64?: string;
      connections: number;
      /** All connections together send at most this many requests a second (as fast as answered when absent). */
      perSecond?: number;
    }
  /**
   * POST /api/v1/events with headers announcing `contentLength` bytes, then only the first few, held until the
   * server answers or the window ends: `connections` of them for each token.
   */
  | { kind: 'slow-body'; url: string; tokens: string[]; contentLength: number; connections: number };

type Window = [number, number];
const counts: Record<string, number> = {};
const count = (status: number) => (counts[status] = (counts[status] ?? 0) + 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function httpLoop(plan: Extract<AttackPlan, { kind: 'http' }>, [start, end]: Window): Promise<void> {
  const body = plan.bodyBase64 === undefined ? undefined : Buffer.from(plan.bodyBase64, 'base64');
  const gapMs = plan.perSecond ? (1000 * plan.connections) / plan.perSecond : 0;
  let nextAt = start;
  while (Date.now() < end) {
    await sleep(nextAt - Date.now());
    nextAt = Math.max(Date.now(), nextAt + gapMs);
    try {
      const res = await fetch(plan.url, { method: plan.method ?? 'GET', headers: plan.headers, body, signal: AbortSignal.timeout(10000) });
      await res.arrayBuffer();
      count(res.status);
    } catch {
      count(0);
    }
  }
}

async function slowBodyLoop(plan: Extract<AttackPlan, { kind: 'slow-body' }>, token: string, [start, end]: Window): Promise<void> {
  const { hostname, port } = new URL(plan.url);
  const head =
    `POST /api/v1/events HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${plan.contentLength}\r\n\r\n{"type":"t",`;
  await sleep(start - Date.now());
  while (Date.now() < end) {
    const status = await new Promise<number>((resolve) => {
      let answer = '';
      const socket = net.connect(Number(port), hostname, () => socket.write(head));
      const timer = setTimeout(() => socket.destroy(), end - Date.now());
      socket.on('data', (d) => (answer += d.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? -1));
      });
    });
    // -1: still held when the window ended (the attack held its slot), not an answer.
    if (status !== -1) count(status);
    else if (Date.now() < end) count(0);
  }
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '') as AttackPlan;
  process.stdout.write('ready\n');
  let input = '';
  for await (const chunk of process.stdin) {
    input += chunk;
    if (input.includes('\n')) break;
  }
  const windows = JSON.parse(input) as Window[];
  for (const window of windows) {
    if (plan.kind === 'http') await Promise.all(Array.from({ length: plan.connections }, () => httpLoop(plan, window)));
    else
      await Promise.all(plan.tokens.flatMap((token) => Array.from({ length: plan.connections }, () => slowBodyLoop(plan, token, window))));
  }
  process.stdout.write(`${JSON.stringify(counts)}\n`);
  process.exit(0);
}

void main();
