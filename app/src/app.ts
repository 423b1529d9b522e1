/**
 * Express assembly: request id → logging → metrics → routes → 404 → errors.
 * `startService` also owns the HTTP server's lifetime (listen and graceful shutdown), so tests
 * run exactly what production runs, in-process on port 0.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import express, { Express } from 'express';
import { Counter, Gauge } from 'prom-client';
import type { Config } from './config';
import { createPool } from './db/pool';
import { createRedis } from './db/redis';
import { databaseUrl } from './db/tls';
import { createAuthenticator } from './http/auth';
import { BodyGate } from './http/body';
import { ERRORS, type ErrorCode } from './http/error-catalogue';
import type { JsonShapeLimits } from './http/json-shape';
import { ReadGate } from './http/read-gate';
import { eventsRouter } from './http/events';
import { DependencyProbe, healthRouter } from './http/health';
import { errorMiddleware, notFound } from './http/errors';
import { openApiRouter } from './http/openapi';
import { sensorsRouter } from './http/sensors';
import { storeEvents } from './db/events-repo';
import { Batcher, batcherOptions } from './ingest/batcher';
import { Ingest } from './ingest/ingest';
import { createIngestMetrics, registerPoolMetrics } from './ingest/metrics';
import { rateLimitBlock, SensorRateLimiter } from './ingest/rate-limit';
import { accessLog } from './observability/access-log';
import { LogBudget } from './observability/log-budget';
import { maskInUrls, type Logger } from './observability/logger';
import { SERVICE_METRICS } from './observability/metric-names';
import { createMetrics, httpMetricsMiddleware } from './observability/metrics';

export function buildApp(config: Config, logger: Logger) {
  const metrics = createMetrics();
  const pool = createPool(config, logger);
  // Reads may go to replicas (READ_DATABASE_URL); they see what was committed there, a replication lag behind.
  const readPool = createPool({ ...config, DATABASE_URL: config.READ_DATABASE_URL || config.DATABASE_URL }, logger, {
    max: config.DB_READ_POOL_MAX,
    name: 'event-service-reads',
    statementTimeoutMs: config.READ_TIMEOUT_MS,
  });
  const redis = createRedis(config, logger);
  const state = { shuttingDown: false };
  const ingestMetrics = createIngestMetrics(metrics.registry, config.METRIC_EVENT_TYPES);
  registerPoolMetrics(metrics.registry, pool, config.DB_POOL_MAX);
  const batcher = new Batcher(batcherOptions(config), (rows) => storeEvents(pool, rows), ingestMetrics, logger);
  const ingest = new Ingest(batcher, config);
  const auth = createAuthenticator(pool, config.ADMIN_TOKEN, { ttlMs: config.SENSOR_CACHE_TTL_MS, max: config.SENSOR_CACHE_MAX });
  const limiter = new SensorRateLimiter(
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

  const probe = new DependencyProbe(
    {
      connectionString: databaseUrl(config.DATABASE_URL, config.DATABASE_CA_FILE),
      connectionTimeoutMillis: config.READY_CHECK_TIMEOUT_MS,
      statement_timeout: config.READY_CHECK_TIMEOUT_MS,
    },
    redis,
    { intervalMs: config.READY_PROBE_INTERVAL_MS, timeoutMs: config.READY_CHECK_TIMEOUT_MS },
    logger,
  );
  new Gauge({
    ...SERVICE_METRICS.redisUp,
    registers: [metrics.registry],
    collect() {
      this.set(redis.status === 'ready' ? 1 : 0);
    },
  });
  new Gauge({
    ...SERVICE_METRICS.postgresUp,
    registers: [metrics.registry],
    collect() {
      this.set(probe.current().postgres ? 1 : 0);
    },
  });

  const suppressedLines = new Counter({ ...SERVICE_METRICS.logLinesSuppressed, registers: [metrics.registry] });
  const clientErrorLines = new LogBudget(config.LOG_CLIENT_ERRORS_PER_S, () => suppressedLines.inc());

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
  const bodies = new BodyGate({ perSensor: config.INGEST_BODIES_PER_SENSOR, total: config.INGEST_BODIES_MAX });
  new Gauge({
    ...SERVICE_METRICS.ingestBodiesInFlight,
    registers: [metrics.registry],
    collect() {
      this.set(bodies.inFlight);
    },
  });
  app.use(
    eventsRouter({
      readPool,
      pageMaxBytes: config.READ_PAGE_MAX_BYTES,
      auth,
      ingest,
      limiter,
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
  app.get('/metrics', async (_req, res, next) => {
    try {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    } catch (err) {
      next(err);
    }
  });

  app.use(openApiRouter());
  app.use(sensorsRouter(pool, auth, config.BODY_LIMIT_BYTES));

  app.use(notFound);
  app.use(errorMiddleware(logger));

  return { app, metrics, ingestMetrics, batcher, pool, readPool, redis, probe, state, clientErrorLines };
}

/**
 * Bounds of an ingest body before parsing, never tighter than validation: a batch wraps a payload in three
 * levels (body, `events`, the event), and a payload string within PAYLOAD_MAX_BYTES as JSON may take six
 * bytes a character as sent (`\u0041`).
 */
function bodyShapeLimits(config: Config): JsonShapeLimits {
  return { maxDepth: config.PAYLOAD_MAX_DEPTH + 3, maxStringBytes: 6 * config.PAYLOAD_MAX_BYTES };
}

/** Errors Node's HTTP parser raises before Express sees a request, as [code, message] (the status is the catalogue's). */
const CLIENT_ERRORS: Record<string, [ErrorCode, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: ['request_timeout', 'the request was not received within the time allowed'],
  HPE_HEADER_OVERFLOW: ['headers_too_large', 'the request headers are too large'],
};

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
    const [code, message] = CLIENT_ERRORS[err.code ?? ''] ?? ['bad_request', 'the request is not valid HTTP'];
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
