/** The OpenAPI document: the API routes of the route table, with the same zod schemas that validate requests. */
import { OpenApiGeneratorV31, OpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
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
import { mount } from './mount';
import { documentedPath, ROUTES, type RouteId } from './route-table';

type ApiRouteId = { [K in RouteId]: (typeof ROUTES)[K]['kind'] extends 'api' ? K : never }[RouteId];

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), json(errorSchema, 'Error')]));

/** What each API route takes and answers: every API route but the document itself (the compiler checks). */
const OPERATIONS: Record<Exclude<ApiRouteId, 'openApi'>, Pick<RouteConfig, 'request' | 'responses'>> = {
  ingestEvents: {
    request: { body: { content: { 'application/json': { schema: z.union([eventSchema, batchSchema]) } } } },
    responses: { 202: json(acceptedSchema, 'Committed in PostgreSQL'), ...errors(400, 401, 403, 413, 415, 429, 503) },
  },
  readEvents: {
    request: { query: readEventsQuery },
    responses: { 200: json(eventPageSchema, 'A page of events'), ...errors(400, 401, 403, 429, 503) },
  },
  createSensor: {
    request: { body: { content: { 'application/json': { schema: createSensorSchema } } } },
    responses: { 201: json(createdSensorSchema, 'Created'), ...errors(400, 401, 403, 415) },
  },
  listSensors: {
    responses: { 200: json(z.object({ sensors: z.array(sensorSchema) }), 'All sensors'), ...errors(401, 403) },
  },
  revokeSensor: {
    request: { params: z.object({ sensorId: z.uuid() }) },
    responses: { 204: { description: 'Revoked' }, ...errors(400, 401, 403, 404) },
  },
  currentSensor: {
    responses: { 200: json(sensorSchema, 'This sensor'), ...errors(401, 403) },
  },
};

function buildDocument() {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  const security = [{ [bearer.name]: [] }];
  registry.register('Event', eventSchema);
  for (const [id, operation] of Object.entries(OPERATIONS)) {
    const route = ROUTES[id as keyof typeof OPERATIONS];
    registry.registerPath({ method: route.method, path: documentedPath(route), summary: route.summary, security, ...operation });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'event-service', version, description: 'Collects sensor events; acknowledges only what is committed.' },
  });
}

export function openApiRouter(): Router {
  const document = buildDocument();
  const router = Router();
  mount(router, ROUTES.openApi, (_req, res) => {
    res.json(document);
  });
  return router;
}
