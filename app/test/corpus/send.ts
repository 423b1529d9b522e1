/**
 * Sends one corpus request exactly as written: node:http (no fetch defaults such as an automatic
 * Content-Type), or a raw socket for requests that are not well-formed HTTP or are deliberately slow.
 */
import http from 'node:http';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';

export interface CorpusRequest {
  method?: string;
  path?: string;
  /** Which credential to send: the corpus sensor's token (default), the admin token, or none. */
  auth?: 'sensor' | 'admin' | 'none';
  /** Replaces the default headers (Content-Type: application/json) when given. */
  headers?: Record<string, string>;
  body?: string;
  bodyJson?: unknown;
  bodyBase64?: string;
  generate?: {
    kind: 'events' | 'padding' | 'nested' | 'nestedArrays' | 'longString';
    count?: number;
    bytes?: number;
    depth?: number;
    length?: number;
  };
  gzip?: boolean;
  /** Raw-socket cases: `raw` text, or a slow client. */
  kind?: 'raw' | 'slow-headers' | 'slow-body';
  raw?: string;
}

export interface CorpusCase {
  name: string;
  request: CorpusRequest;
  expect: { status: number; code?: string };
}

export interface Answer {
  status: number;
  contentType: string;
  text: string;
  ms: number;
}

const event = () => ({ id: randomUUID(), type: 't', payload: { v: 1 } });

function generated(g: NonNullable<CorpusRequest['generate']>): string {
  switch (g.kind) {
    case 'events':
      return JSON.stringify({ events: Array.from({ length: g.count ?? 1 }, event) });
    case 'padding':
      return JSON.stringify({ type: 't', payload: { pad: 'x'.repeat(g.bytes ?? 0) } });
    case 'longString':
      return JSON.stringify({ type: 't', payload: { s: 'y'.repeat(g.length ?? 0) } });
    case 'nested':
      return `{"type":"t","payload":${'{"a":'.repeat(g.depth ?? 1)}1${'}'.repeat(g.depth ?? 1)}}`;
    case 'nestedArrays':
      return `{"type":"t","payload":{"a":${'['.repeat(g.depth ?? 1)}${']'.repeat(g.depth ?? 1)}}}`;
  }
}

export function bodyOf(req: CorpusRequest): Buffer | undefined {
  let body: Buffer | undefined;
  if (req.bodyBase64 !== undefined) body = Buffer.from(req.bodyBase64, 'base64');
  else if (req.generate) body = Buffer.from(generated(req.generate));
  else if (req.bodyJson !== undefined) body = Buffer.from(JSON.stringify(req.bodyJson));
  else if (req.body !== undefined) body = Buffer.from(req.body);
  if (body && req.bodyBase64 === undefined) body = Buffer.from(body.toString().replaceAll('{{now}}', new Date().toISOString()));
  return body && req.gzip ? gzipSync(body) : body;
}

export function send(baseUrl: string, req: CorpusRequest, tokens: { sensor: string; admin: string }): Promise<Answer> {
  const started = Date.now();
  const url = new URL(req.path ?? '/api/v1/events', baseUrl);
  const headers: Record<string, string> = { ...(req.headers ?? { 'Content-Type': 'application/json' }) };
  const auth = req.auth ?? 'sensor';
  if (auth !== 'none') headers.Authorization = `Bearer ${tokens[auth]}`;
  const body = bodyOf(req);
  if (body) headers['Content-Length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const r = http.request(url, { method: req.method ?? 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type'] ?? ''),
          text: Buffer.concat(chunks).toString(),
          ms: Date.now() - started,
        }),
      );
    });
    // The server may answer (413) and close before the whole body is written: the answer still counts.
    r.on('error', reject);
    r.end(body);
  });
}

/** Writes raw bytes (or trickles a slow request) and reads whatever the server answers until it closes. */
export function sendRaw(baseUrl: string, req: CorpusRequest, sensorToken: string, everyMs = 250): Promise<Answer> {
  const url = new URL(baseUrl);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const trickle = (piece: () => string) => {
      timer = setInterval(() => socket.writable && socket.write(piece()), everyMs);
    };
    socket.on('connect', () => {
      if (req.kind === 'raw') socket.write(req.raw ?? '');
      else if (req.kind === 'slow-headers') {
        socket.write('POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n');
        let n = 0;
        trickle(() => `X-Slow-${n++}: a\r\n`); // never the blank line that ends the headers
      } else {
        socket.write(
          `POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${sensorToken}\r\n` +
            'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
        );
        trickle(() => ' '); // a byte now and then, never the whole body
      }
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined); // a reset after the answer is fine; no answer shows as status 0
    socket.on('close', () => {
      clearInterval(timer);
      const text = Buffer.concat(chunks).toString();
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const contentType = /^content-type: *(.*)$/im.exec(head)?.[1] ?? '';
      resolve({ status, contentType, text: rest.join('\r\n\r\n'), ms: Date.now() - started });
    });
    socket.setTimeout(20000, () => {
      socket.destroy();
      reject(new Error(`no answer and no close within 20 s for "${req.kind}"`));
    });
  });
}
