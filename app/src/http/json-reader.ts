/**
 * The JSON body reader for the form sensors send: UTF-8 (declared or by default), no content coding. Its chunks
 * are joined and decoded once (`Buffer.concat`, then `toString`), where body-parser streams each chunk through
 * iconv-lite's charset converter and joins strings. It takes body-parser's options that matter here (`limit`,
 * `verify`) and answers as body-parser does: the same empty-body and byte-order-mark handling, a `verify` hook
 * that sees the raw bytes first, and errors carrying body-parser's `type`, so the error catalogue maps them
 * alike. Every other body (another charset, gzip or deflate) still goes through body-parser.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, Response } from 'express';

/** body-parser's options this reader honours, the same object `express.json` gets. */
export interface JsonReaderOptions {
  limit: number;
  /** Called with the raw body before it is decoded; throwing refuses the request with that error. */
  verify?: (req: IncomingMessage, res: ServerResponse, body: Buffer, encoding: string) => void;
}

/** Content types read here: JSON in UTF-8, its default charset. */
export function isPlainUtf8Json(req: Request): boolean {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  const type = req.headers['content-type']?.toLowerCase().replace(/\s+/g, '');
  return type === 'application/json' || type === 'application/json;charset=utf-8';
}

const bodyError = (type: string, message: string): Error => Object.assign(new Error(message), { type });

/** Reads the whole body and parses it as JSON (any JSON value; an empty body is `{}`), or fails with a typed error. */
export function readUtf8Json(
  req: Request,
  res: Response,
  options: JsonReaderOptions,
  done: (err: Error | undefined, body?: unknown) => void,
): void {
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  const chunks: Buffer[] = [];
  let received = 0;
  let finished = false;

  const cleanup = () => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    req.off('close', onClose);
  };
  const finish = (err: Error | undefined, body?: unknown) => {
    if (finished) return;
    finished = true;
    cleanup();
    done(err, body);
  };
  /** Like body-parser, reads off the rest of a refused body before answering, so the connection stays usable. */
  const refuse = (err: Error) => {
    if (finished) return;
    finished = true;
    cleanup();
    if (req.complete) return done(err);
    req.once('end', () => done(err));
    req.once('close', () => req.complete || done(err));
    req.resume();
  };

  function onData(chunk: Buffer) {
    received += chunk.length;
    if (received > options.limit) return refuse(bodyError('entity.too.large', 'request entity too large'));
    chunks.push(chunk);
  }
  function onEnd() {
    if (declared !== undefined && received !== declared) {
      return finish(bodyError('request.size.invalid', 'request size did not match content length'));
    }
    const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
    try {
      options.verify?.(req, res, raw, 'utf-8');
    } catch (err) {
      return finish(err as Error);
    }
    let text = raw.toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // iconv-lite strips a byte-order mark
    if (text.length === 0) return finish(undefined, {});
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      return finish(Object.assign(err as Error, { type: 'entity.parse.failed' }));
    }
    finish(undefined, body);
  }
  function onError() {
    finish(bodyError('request.aborted', 'request aborted')); // the request stream fails only when the client goes away
  }
  function onClose() {
    if (!req.complete) finish(bodyError('request.aborted', 'request aborted'));
  }

  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
  req.on('close', onClose);
}
