/** JSON bodies only, size-limited before parsing (gzip/deflate bodies are limited after inflating). */
import express, { NextFunction, Request, Response } from 'express';
import { AppError } from './errors';

export function jsonBody(limitBytes: number) {
  const parse = express.json({ limit: limitBytes, strict: false, type: () => true });
  return (req: Request, res: Response, next: NextFunction): void => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (!hasBody) return next(new AppError(400, 'empty_body', 'the request body is empty; send a JSON object'));
    if (!req.is('application/json')) {
      return next(new AppError(415, 'unsupported_media_type', 'the body must be JSON (Content-Type: application/json)'));
    }
    parse(req, res, next);
  };
}
