/**
 * A pre-scan of a JSON body's raw bytes before it is parsed. Work is bounded before JSON.parse spends it
 * (800 KB of `[[[…]]]` costs JSON.parse about 350 ms, this scan about 1 ms): nesting depth and string length.
 * And nothing is silently altered by parsing: invalid UTF-8 (it would become U+FFFD), a number a double
 * cannot hold exactly (`9007199254740993`, `1e-400`), or a key repeated in one object (the last would win)
 * is refused rather than stored changed. It never refuses a body that validation would accept on other
 * grounds; whether the text is JSON at all is still the parser's call.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError } from './errors';

export interface JsonShapeLimits {
  /** Deepest nesting of arrays and objects in the whole body. */
  maxDepth: number;
  /** Longest string (or key) in bytes as sent, escapes included. */
  maxStringBytes: number;
}

export interface JsonShapeProblem {
  /** `invalid_json` for text that is not UTF-8 (RFC 8259 requires it), else `invalid_request`. */
  code: 'invalid_json' | 'invalid_request';
  message: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const COLON = 0x3a;
const COMMA = 0x2c;
const MINUS = 0x2d;

const invalid = (message: string): JsonShapeProblem => ({ code: 'invalid_request', message });

/**
 * The keys of one open object, as hashes of their bytes with where each was written: comparing hashes keeps
 * the scan free of allocations per key; equal hashes are compared as text.
 */
interface ObjectKeys {
  hashes: number[];
  starts: number[];
  ends: number[];
  /** Hashes of an object with many keys, so that checking each stays O(1). */
  set?: Set<number>;
}
const KEYS_LISTED = 16;

/** What is wrong with the body, or undefined. `body` is JSON text in UTF-8. */
export function jsonShapeProblem(body: Buffer, limits: JsonShapeLimits): JsonShapeProblem | undefined {
  if (!isUtf8(body)) return { code: 'invalid_json', message: 'the body is not valid UTF-8' };
  const length = body.length;
  let depth = 0;
  // Each open object's keys, by depth (undefined for arrays); the records are reused from object to object.
  const objects: Array<ObjectKeys | undefined> = [];
  const spare: Array<ObjectKeys | undefined> = [];
  // Whether the next string is a key: after `{`, and after `,` inside an object. Only keys are hashed.
  let expectKey = false;
  for (let i = 0; i < length; i++) {
    const c = body[i]!;
    if (c === QUOTE) {
      const open = i;
      let hash = 0x811c9dc5;
      let escaped = false;
      if (expectKey) {
        for (i++; i < length; i++) {
          const b = body[i]!;
          if (b === QUOTE) break;
          if (b === BACKSLASH) {
            escaped = true;
            i++;
          }
          hash = Math.imul(hash ^ b, 0x01000193);
        }
      } else {
        for (i++; i < length; i++) {
          const b = body[i]!;
          if (b === QUOTE) break;
          if (b === BACKSLASH) i++;
        }
      }
      if (i - open - 1 > limits.maxStringBytes) return invalid(`holds a string longer than ${limits.maxStringBytes} bytes`);
      const keys = objects[depth];
      if (expectKey && keys !== undefined) {
        if (escaped) hash = hashOf(keyText(body, open, i));
        if (isRepeated(body, keys, hash, open, i)) {
          return invalid(
            `repeats the key ${JSON.stringify(keyText(body, open, i)).slice(0, 80)} in one object (only one value could be kept)`,
          );
        }
      }
    } else if (c === COLON) {
      expectKey = false;
    } else if (c === COMMA) {
      expectKey = objects[depth] !== undefined;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > limits.maxDepth) return invalid(`is nested deeper than ${limits.maxDepth} levels`);
      if (c === OPEN_ARRAY) {
        objects[depth] = undefined;
        expectKey = false;
      } else {
        const keys = spare[depth] ?? { hashes: [], starts: [], ends: [] };
        keys.hashes.length = keys.starts.length = keys.ends.length = 0;
        keys.set = undefined;
        spare[depth] = objects[depth] = keys;
        expectKey = true;
      }
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
      expectKey = false;
    } else if (c === MINUS || (c >= 0x30 && c <= 0x39)) {
      const end = numberEnd(body, i);
      const number = exactNumberProblem(body, i, end);
      if (number) return invalid(number);
      i = end - 1;
    }
  }
  return undefined;
}

/** True when the key at body[open, close] is already in `keys`; else records it. */
function isRepeated(body: Buffer, keys: ObjectKeys, hash: number, open: number, close: number): boolean {
  if (keys.set ? keys.set.has(hash) : keys.hashes.includes(hash)) {
    const text = keyText(body, open, close);
    for (let k = 0; k < keys.hashes.length; k++) {
      if (keys.hashes[k] === hash && keyText(body, keys.starts[k]!, keys.ends[k]!) === text) return true;
    }
  }
  keys.hashes.push(hash);
  keys.starts.push(open);
  keys.ends.push(close);
  if (keys.set) keys.set.add(hash);
  else if (keys.hashes.length > KEYS_LISTED) keys.set = new Set(keys.hashes);
  return false;
}

/** The same hash as the scan computes over a key's bytes, for a key written with escapes. */
function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (const b of Buffer.from(text)) hash = Math.imul(hash ^ b, 0x01000193);
  return hash;
}

/** A key as JSON.parse will see it: `"a"` and `"\\u0061"` are the same key. */
function keyText(body: Buffer, open: number, close: number): string {
  const raw = body.toString('utf8', open + 1, close);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw; // not a valid string: the parser will refuse the body
  }
}

function numberEnd(body: Buffer, from: number): number {
  let i = from;
  while (i < body.length) {
    const c = body[i]!;
    if ((c >= 0x30 && c <= 0x39) || c === MINUS || c === 0x2b || c === 0x2e || c === 0x45 || c === 0x65) i++;
    else break;
  }
  return i;
}

/**
 * Whether the number written at body[from, to) is the double it parses to, as a decimal value (`1.50` and
 * `1.5` are; `9007199254740993` and `1e-400` are not). Up to 15 digits without an exponent always are.
 */
function exactNumberProblem(body: Buffer, from: number, to: number): string | undefined {
  if (to - from <= 15) {
    let exponent = false;
    for (let i = from; i < to; i++) if (body[i] === 0x65 || body[i] === 0x45) exponent = true;
    if (!exponent) return undefined;
  }
  const token = body.toString('latin1', from, to);
  const value = Number(token);
  if (Number.isNaN(value)) return undefined; // not a JSON number: the parser will refuse the body
  if (!Number.isFinite(value) || decimal(token) !== decimal(String(value))) {
    return `holds the number ${token.slice(0, 40)}, which cannot be stored exactly (beyond IEEE-754 double precision or range); send it as a string`;
  }
  return undefined;
}

/** A decimal number's value as sign, significant digits and exponent: `-1.50e2` → `-15e1`. */
function decimal(text: string): string {
  const negative = text.startsWith('-');
  const e = text.search(/[eE]/);
  let digits = text.slice(negative ? 1 : 0, e < 0 ? undefined : e);
  let exponent = e < 0 ? 0 : Number(text.slice(e + 1));
  const dot = digits.indexOf('.');
  if (dot >= 0) {
    exponent -= digits.length - dot - 1;
    digits = digits.slice(0, dot) + digits.slice(dot + 1);
  }
  digits = digits.replace(/^0+/, '');
  if (digits === '') return '0';
  const significant = digits.replace(/0+$/, '');
  return `${negative ? '-' : ''}${significant}e${exponent + digits.length - significant.length}`;
}

/**
 * A body-parser `verify` hook: refuses a body over the limits with 400 before it is parsed, and leaves
 * the body's size as received after decoding (`res.locals.bodyBytes`) for the rate limiter.
 * Bodies in UTF-16 are scanned as UTF-8 text; charsets TextDecoder does not know are left to validation.
 */
export function verifyJsonShape(limits: JsonShapeLimits) {
  return (_req: IncomingMessage, res: ServerResponse & { locals?: Record<string, unknown> }, body: Buffer, encoding: string): void => {
    if (res.locals) res.locals.bodyBytes = body.length;
    const problem = jsonShapeProblem(asUtf8(body, encoding), limits);
    if (problem?.code === 'invalid_json') throw new AppError(400, 'invalid_json', `request body is not valid JSON: ${problem.message}`);
    if (problem) {
      throw new AppError(400, 'invalid_request', 'the request is invalid (1 problem); nothing was stored', [
        { path: '(body)', message: problem.message },
      ]);
    }
  };
}

function asUtf8(body: Buffer, encoding: string): Buffer {
  if (encoding === 'utf-8' || encoding === 'utf8') return body;
  try {
    return Buffer.from(new TextDecoder(encoding).decode(body));
  } catch {
    return Buffer.alloc(0);
  }
}
