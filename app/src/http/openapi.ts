/** The OpenAPI document, generated from the same zod schemas that validate requests. */
import { OpenApiGeneratorV31, OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { Router } from 'express';
import { z } from 'zod';
import {
  acceptedSchema,
  batchSchema,
  createdSensorSchema,
  createSensorSchema,
  errorSchema,
  eventPageSchema,
  eventSchema,
  readEventsQuery,
  sensorSchema,
} from '../ingest/schemas';
import { version } from '../version';

function buildDocument() {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  const security = [{ [bearer.name]: [] }];
  const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
  const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), json(errorSchema, 'Error')]));
  registry.register('Event', eventSchema);

  registry.registerPath({
    method: 'post',
    path: '/api/v1/events',
    summary: 'Ingest one event or a batch (atomic: all stored, or none)',
    security,
    request: { body: { content: { 'application/json': { schema: z.union([eventSchema, batchSchema]) } } } },
    responses: { 202: json(acceptedSchema, 'Committed in PostgreSQL'), ...errors(400, 401, 403, 413, 415, 429, 503) },
  });
  registry.registerPath({
    method: 'get',
    path: '/api/v1/events',
    summary: "Read back this sensor's events, newest first, keyset-paginated",
    security,
    request: { query: readEventsQuery },
    responses: { 200: json(eventPageSchema, 'A page of events'), ...errors(400, 401, 403, 429, 503) },
  });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/sensors',
    summary: 'Create a sensor (admin); the token is shown once',
    security,
    request: { body: { content: { 'application/json': { schema: createSensorSchema } } } },
    responses: { 201: json(createdSensorSchema, 'Created'), ...errors(400, 401, 403, 415) },
  });
  registry.registerPath({
    method: 'get',
    path: '/api/v1/sensors',
    summary: 'List sensors (admin)',
    security,
    responses: { 200: json(z.object({ sensors: z.array(sensorSchema) }), 'All sensors'), ...errors(401, 403) },
  });
  registry.registerPath({
    method: 'delete',
    path: '/api/v1/sensors/{sensorId}',
    summary: "Revoke a sensor's token (admin)",
    security,
    request: { params: z.object({ sensorId: z.uuid() }) },
    responses: { 204: { description: 'Revoked' }, ...errors(400, 401, 403, 404) },
  });
  registry.registerPath({
    method: 'get',
    path: '/api/v1/sensor',
    summary: 'The calling sensor',
    security,
    responses: { 200: json(sensorSchema, 'This sensor'), ...errors(401, 403) },
  });

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'event-service', version, description: 'Collects sensor events; acknowledges only what is committed.' },
  });
}

export function openApiRouter(): Router {
  const document = buildDocument();
  const router = Router();
  router.get('/api/v1/openapi.json', (_req, res) => {
    res.json(document);
  });
  return router;
}
