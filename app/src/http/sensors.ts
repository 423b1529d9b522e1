/** Sensor management (admin) and a sensor's own details. */
import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import type { Pool } from 'pg';
import { z } from 'zod';
import { insertSensor, listSensors, revokeSensor, SensorRow } from '../db/sensors-repo';
import { createSensorSchema } from '../ingest/schemas';
import { Authenticator, currentSensor, hashToken, newSensorToken } from './auth';
import { jsonBody } from './body';
import { AppError } from './errors';
import { mount } from './mount';
import { ROUTES } from './route-table';

export const toSensorJson = (s: SensorRow) => ({
  sensorId: s.sensorId,
  name: s.name,
  createdAt: s.createdAt.toISOString(),
  revokedAt: s.revokedAt?.toISOString() ?? null,
});

function invalid(error: z.ZodError): AppError {
  return new AppError(
    400,
    'invalid_request',
    'the request is invalid',
    error.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message })),
  );
}

export function sensorsRouter(pool: Pool, auth: Authenticator, bodyLimit: number): Router {
  const router = Router();

  mount(router, ROUTES.createSensor, auth.requireAdmin, jsonBody(bodyLimit), async (req, res) => {
    const parsed = createSensorSchema.safeParse(req.body);
    if (!parsed.success) throw invalid(parsed.error);
    const token = newSensorToken();
    const sensor = await insertSensor(pool, { sensorId: randomUUID(), name: parsed.data.name, tokenHash: hashToken(token) });
    res.status(201).json({ ...toSensorJson(sensor), token });
  });

  mount(router, ROUTES.listSensors, auth.requireAdmin, async (_req, res) => {
    res.json({ sensors: (await listSensors(pool)).map(toSensorJson) });
  });

  mount(router, ROUTES.revokeSensor, auth.requireAdmin, async (req, res) => {
    const id = z.uuid().safeParse(req.params.sensorId);
    if (!id.success) throw new AppError(400, 'invalid_request', 'sensorId must be a UUID');
    const sensor = await revokeSensor(pool, id.data.toLowerCase());
    if (!sensor) throw new AppError(404, 'not_found', `no sensor ${id.data}`);
    auth.forget(sensor.sensorId);
    res.status(204).end();
  });

  mount(router, ROUTES.currentSensor, auth.requireSensor, (_req, res) => {
    res.json(toSensorJson(currentSensor(res)));
  });

  return router;
}
