/**
 * A pre-scan of a JSON body's raw bytes before it is parsed: nesting depth and string length are bounded
 * before JSON.parse spends time on them (800 KB of `[[[…]]]` costs JSON.parse about 350 ms, the scan about
 * 1 ms). It only counts brackets and measures strings, so it never refuses a body that validation would
 * accept; whether the text is JSON at all is still the parser's call.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError } from './errors';

export interface JsonShapeLimits {
  /** Deepest nesting of arrays and objects in the whole body. */
  maxDepth: number;
  /** Longest string (or key) in bytes as sent, escapes included. */
  maxStringBytes: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/** What is wrong with the body's shape, or undefined. `body` is JSON text in UTF-8. */
export function jsonShapeProblem(body: Uint8Array, limits: JsonShapeLimits): string | undefined {
  let depth = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === QUOTE) {
      const end = closingQuote(body, i);
      if (end - i - 1 > limits.maxStringBytes) return `holds a string longer than ${limits.maxStringBytes} bytes`;
      i = end;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > limits.maxDepth) return `is nested deeper than ${limits.maxDepth} levels`;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
  return undefined;
}

/** Index of the quote ending the string that opens at `open` (the body's length when it never ends). */
function closingQuote(body: Uint8Array, open: number): number {
  let at = body.indexOf(QUOTE, open + 1);
  while (at >= 0) {
    let backslashes = 0;
    while (body[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
    at = body.indexOf(QUOTE, at + 1);
  }
  return body.length;
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
    if (problem) {
      throw new AppError(400, 'invalid_request', 'the request is invalid (1 problem); nothing was stored', [
        { path: '(body)', message: problem },
      ]);
    }
  };
}

function asUtf8(body: Buffer, encoding: string): Uint8Array {
  if (encoding === 'utf-8' || encoding === 'utf8') return body;
  try {
    return Buffer.from(new TextDecoder(encoding).decode(body));
  } catch {
    return new Uint8Array();
  }
}
