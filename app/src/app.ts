/**
 * Express assembly: request id → logging → metrics → routes → 404 → errors.
 * `startService` also owns the HTTP server's lifetime (listen and graceful shutdown), so tests
 * run exactly what production runs, in-process on port 0.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import express, { Express, Router } from 'express';
import type { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config } from './config';
import { createPool } from './db/pool';
import { createRedis } from './db/redis';
import { databaseUrl } from './db/tls';
import { createAuthenticator } from './http/auth';
import { BodyGate } from './http/body';
import { ERRORS, HTTP_PARSER_DEFAULT, HTTP_PARSER_ERRORS } from './http/error-catalogue';
import type { JsonShapeLimits } from './http/json-shape';
import { ReadGate } from './http/read-gate';
import { eventsRouter } from './http/events';
import { DependencyProbe, healthRouter } from './http/health';
import { errorMiddleware, notFound } from './http/errors';
import { mount } from './http/mount';
import { openApiRouter } from './http/openapi';
import { ROUTES } from './http/route-table';
import { sensorsRouter } from './http/sensors';
import { storeEvents } from './db/events-repo';
import { Batcher, batcherOptions } from './ingest/batcher';
import { Ingest } from './ingest/ingest';
import { createIngestMetrics, type IngestMetrics, registerPoolMetrics } from './ingest/metrics';
import { rateLimitBlock, SensorRateLimiter } from './ingest/rate-limit';
import { accessLog } from './observability/access-log';
import { LogBudget } from './observability/log-budget';
import { maskInUrls, type Logger } from './observability/logger';
import { SERVICE_METRICS } from './observability/metric-names';
import { createMetrics, httpMetricsMiddleware } from './observability/metrics';

export function buildApp(config: Config, logger: Logger) {
  const metrics = createMetrics();
  const { pool, readPool, redis } = connectStores(config, logger);
  const state = { shuttingDown: false };
  const ingestMetrics = createIngestMetrics(metrics.registry, config.METRIC_EVENT_TYPES);
  registerPoolMetrics(metrics.registry, pool, config.DB_POOL_MAX);
  const batcher = new Batcher(batcherOptions(config), (rows) => storeEvents(pool, rows), ingestMetrics, logger);
  const probe = dependencyProbe(config, redis, logger);
  const bodies = new BodyGate({ perSensor: config.INGEST_BODIES_PER_SENSOR, total: config.INGEST_BODIES_MAX });
  const { suppressedLines } = registerServiceMetrics(metrics.registry, { redis, probe, bodies });
  const clientErrorLines = new LogBudget(config.LOG_CLIENT_ERRORS_PER_S, () => suppressedLines.inc());
  const auth = createAuthenticator(pool, config.ADMIN_TOKEN, { ttlMs: config.SENSOR_CACHE_TTL_MS, max: config.SENSOR_CACHE_MAX });

  maskInUrls(config.ADMIN_TOKEN);
  const app: Express = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(accessLog(logger, clientErrorLines));
  app.use(httpMetricsMiddleware(metrics));
  app.use((_req, res, next) => {
    if (state.shuttingDown) res.setHeader('Connection', 'close');
    next();
  });
  // The ingest routes first: every router in front of them is matched against each event request.
  app.use(
    eventsRouter({
      readPool,
      pageMaxBytes: config.READ_PAGE_MAX_BYTES,
      auth,
      ingest: new Ingest(batcher, config),
      limiter: sensorRateLimiter(config, redis, ingestMetrics, logger),
      metrics: ingestMetrics,
      bodyLimit: config.BODY_LIMIT_BYTES,
      bodies,
      reads: new ReadGate(config.READS_PER_SENSOR),
      databaseDown: () => !probe.current().postgres,
      bodyShape: bodyShapeLimits(config),
      bytesPerUnit: config.RATE_LIMIT_BYTES_PER_UNIT,
    }),
  );
  app.use(healthRouter({ probe, isShuttingDown: () => state.shuttingDown }));
  app.use(metricsRouter(metrics.registry));
  app.use(openApiRouter());
  app.use(sensorsRouter(pool, auth, config.BODY_LIMIT_BYTES));
  app.use(notFound);
  app.use(errorMiddleware(logger));

  return { app, metrics, ingestMetrics, batcher, pool, readPool, redis, probe, state, clientErrorLines };
}

/** The writing pool, the reading pool and Redis. */
function connectStores(config: Config, logger: Logger) {
  return {
    pool: createPool(config, logger),
    // Reads may go to replicas (READ_DATABASE_URL); they see what was committed there, a replication lag behind.
    readPool: createPool({ ...config, DATABASE_URL: config.READ_DATABASE_URL || config.DATABASE_URL }, logger, {
      max: config.DB_READ_POOL_MAX,
      name: 'event-service-reads',
      statementTimeoutMs: config.READ_TIMEOUT_MS,
    }),
    redis: createRedis(config, logger),
  };
}

/** Per-sensor rate limits in Redis, in-process while Redis is unavailable (counted in rate_limit_fallback_total). */
function sensorRateLimiter(config: Config, redis: Redis, ingestMetrics: IngestMetrics, logger: Logger): SensorRateLimiter {
  return new SensorRateLimiter(
    redis,
    {
      points: config.RATE_LIMIT_EVENTS,
      durationS: config.RATE_LIMIT_WINDOW_S,
      block: rateLimitBlock(config),
      retryMs: config.READY_PROBE_INTERVAL_MS,
    },
    () => ingestMetrics.rateLimitFallback.inc(),
    logger,
  );
}

/** The readiness probe of PostgreSQL and Redis, over a connection of its own. */
function dependencyProbe(config: Config, redis: Redis, logger: Logger): DependencyProbe {
  return new DependencyProbe(
    {
      connectionString: databaseUrl(config.DATABASE_URL, config.DATABASE_CA_FILE),
      connectionTimeoutMillis: config.READY_CHECK_TIMEOUT_MS,
      statement_timeout: config.READY_CHECK_TIMEOUT_MS,
    },
    redis,
    { intervalMs: config.READY_PROBE_INTERVAL_MS, timeoutMs: config.READY_CHECK_TIMEOUT_MS },
    logger,
  );
}

/** Whether Redis and PostgreSQL answer and the ingest bodies in flight (read at scrape time), and the log lines suppressed. */
function registerServiceMetrics(registry: Registry, from: { redis: Redis; probe: DependencyProbe; bodies: BodyGate }) {
  const gauge = (metric: { name: string; help: string }, value: () => number) =>
    new Gauge({
      ...metric,
      registers: [registry],
      collect() {
        this.set(value());
      },
    });
  gauge(SERVICE_METRICS.redisUp, () => (from.redis.status === 'ready' ? 1 : 0));
  gauge(SERVICE_METRICS.postgresUp, () => (from.probe.current().postgres ? 1 : 0));
  const suppressedLines = new Counter({ ...SERVICE_METRICS.logLinesSuppressed, registers: [registry] });
  gauge(SERVICE_METRICS.ingestBodiesInFlight, () => from.bodies.inFlight);
  return { suppressedLines };
}

function metricsRouter(registry: Registry): Router {
  const router = Router();
  mount(router, ROUTES.metrics, async (_req, res, next) => {
    try {
      res.type(registry.contentType).send(await registry.metrics());
    } catch (err) {
      next(err);
    }
  });
  return router;
}

/**
 * Bounds of an ingest body before parsing, never tighter than validation: a batch wraps a payload in three
 * levels (body, `events`, the event), and a payload string within PAYLOAD_MAX_BYTES as JSON may take six
 * bytes a character as sent (`\u0041`).
 */
function bodyShapeLimits(config: Config): JsonShapeLimits {
  return { maxDepth: config.PAYLOAD_MAX_DEPTH + 3, maxStringBytes: 6 * config.PAYLOAD_MAX_BYTES };
}

/**
 * Answers malformed, oversized or too-slow requests with the same JSON error body as every other
 * error (Node's default is a bare status line), then closes the connection.
 */
function answerClientError(logger: Logger, lines: LogBudget) {
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    // The client went away (reset, or closed before its headers ended): nobody to answer, nothing worth a line.
    if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [code, message] = HTTP_PARSER_ERRORS[err.code ?? ''] ?? HTTP_PARSER_DEFAULT;
    const status = ERRORS[code].status;
    if (lines.take()) logger.warn({ code, err: err.code }, message);
    // Node's own rule: never write over a response that has started (its in-flight response is `_httpMessage`).
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!inFlight?.headersSent) {
      const body = JSON.stringify({ error: { code, message, requestId: randomUUID() } });
      socket.write(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

export interface Service {
  url: string;
  port: number;
  server: http.Server;
  parts: ReturnType<typeof buildApp>;
  /** Graceful shutdown; resolves true when everything finished within the grace period. */
  shutdown(): Promise<boolean>;
}

export async function startService(config: Config, logger: Logger): Promise<Service> {
  const parts = buildApp(config, logger);
  // The service starts either way (PostgreSQL may come up later), but says so when it cannot reach it.
  if (!(await parts.probe.start()).postgres) {
    logger.warn('PostgreSQL is not reachable at start: /readyz answers 503 and ingest 503 until it is');
  }
  // Node enforces the header/request timeouts on a timer (30 s by default): check every second so they hold.
  const server = http.createServer({ connectionsCheckingInterval: 1000 }, parts.app);
  server.on('clientError', answerClientError(logger, parts.clientErrorLines));
  server.headersTimeout = config.HTTP_HEADERS_TIMEOUT_MS;
  server.requestTimeout = config.HTTP_REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = config.HTTP_KEEPALIVE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;

  let shutdownPromise: Promise<boolean> | undefined;
  const shutdown = () =>
    (shutdownPromise ??= (async () => {
      parts.state.shuttingDown = true;
      logger.info({ graceMs: config.SHUTDOWN_GRACE_MS }, 'shutting down: no new connections, finishing in-flight requests');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const inTime = await Promise.race([
        closed.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), config.SHUTDOWN_GRACE_MS))),
      ]);
      clearTimeout(timer);
      if (!inTime) {
        logger.warn('grace period over: closing remaining connections');
        server.closeAllConnections();
      }
      // Every answered request was already committed; this flushes anything still queued.
      await parts.batcher.drain();
      await parts.pool.end().catch(() => undefined);
      await parts.readPool.end().catch(() => undefined);
      await parts.probe.stop();
      parts.redis.disconnect();
      logger.info({ clean: inTime }, 'shutdown complete');
      return inTime;
    })());

  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, port, server, parts, shutdown };
}
