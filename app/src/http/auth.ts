/**
 * Bearer-token authentication. Sensor tokens are random, carry the `evs_` prefix and are stored only
 * as SHA-256 hashes; lookups are cached in-process for SENSOR_CACHE_TTL_MS, so a revocation is
 * immediate on the instance that served it and reaches every other instance within that TTL.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { LRUCache } from 'lru-cache';
import type { Pool } from 'pg';
import { findSensorByTokenHash, SensorRow } from '../db/sensors-repo';
import { AppError } from './errors';

export const TOKEN_PREFIX = 'evs_';
/** 32 random bytes, base64url: 43 characters. */
const SENSOR_TOKEN = /^evs_[A-Za-z0-9_-]{43}$/;
/** The scheme is case-insensitive (RFC 7235 section 2.1): `bearer` and `BEARER` are Bearer too. */
const BEARER = /^bearer +([\x21-\x7e]{1,512})$/i;

export function newSensorToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

const unauthorized = (code: 'missing_token' | 'malformed_token' | 'unknown_token', message: string) =>
  new AppError(401, code, message, undefined, { 'WWW-Authenticate': 'Bearer' });

/** Node keeps the first of repeated Authorization headers; a proxy in front may read the last: refuse the ambiguity. */
function authorizationHeaders(req: Request): number {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    if (req.rawHeaders[i]!.length === 13 && req.rawHeaders[i]!.toLowerCase() === 'authorization') count++;
  return count;
}

function bearerToken(req: Request): string {
  const header = req.headers.authorization;
  if (!header) throw unauthorized('missing_token', 'an Authorization: Bearer <token> header is required');
  if (authorizationHeaders(req) > 1) throw new AppError(400, 'duplicate_authorization', 'send one Authorization header, not several');
  const match = BEARER.exec(header);
  if (!match) throw unauthorized('malformed_token', 'the Authorization header must be "Bearer <token>"');
  return match[1]!;
}

export interface Authenticator {
  requireAdmin(req: Request, res: Response, next: NextFunction): void;
  requireSensor(req: Request, res: Response, next: NextFunction): void;
  /** Forgets cached lookups of a sensor (after revoking it). */
  forget(sensorId: string): void;
}

export function createAuthenticator(pool: Pool, adminToken: string, cache: { ttlMs: number; max: number }): Authenticator {
  const adminHash = hashToken(adminToken);
  const isAdmin = (token: string) => timingSafeEqual(hashToken(token), adminHash);
  const lookups = cache.ttlMs > 0 ? new LRUCache<string, { sensor: SensorRow | null }>({ max: cache.max, ttl: cache.ttlMs }) : undefined;

  async function findSensor(token: string): Promise<SensorRow | null> {
    if (!SENSOR_TOKEN.test(token)) return null;
    const hash = hashToken(token);
    const key = hash.toString('base64');
    const cached = lookups?.get(key);
    if (cached) return cached.sensor;
    const sensor = (await findSensorByTokenHash(pool, hash)) ?? null;
    lookups?.set(key, { sensor });
    return sensor;
  }

  return {
    requireAdmin(req, _res, next) {
      (async () => {
        const token = bearerToken(req);
        if (isAdmin(token)) return;
        if (await findSensor(token)) throw new AppError(403, 'forbidden', 'this route needs the admin token; a sensor token is not enough');
        throw unauthorized('unknown_token', 'the token is not valid');
      })().then(() => next(), next);
    },
    requireSensor(req, res, next) {
      (async () => {
        const token = bearerToken(req);
        if (isAdmin(token))
          throw new AppError(403, 'forbidden', 'this route needs a sensor token; the admin token does not identify a sensor');
        const sensor = await findSensor(token);
        if (!sensor) throw unauthorized('unknown_token', 'the token is not valid');
        if (sensor.revokedAt) throw new AppError(403, 'token_revoked', 'this sensor has been revoked');
        res.locals.sensor = sensor;
      })().then(() => next(), next);
    },
    forget(sensorId) {
      if (!lookups) return;
      for (const [key, value] of lookups.entries()) if (value.sensor?.sensorId === sensorId) lookups.delete(key);
    },
  };
}

export function currentSensor(res: Response): SensorRow {
  return res.locals.sensor as SensorRow;
}
