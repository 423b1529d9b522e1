/**
 * Every setting of the service, from environment variables, validated once at start-up.
 * This table is the one source for the configuration table in docs/operations.md (`make config-docs`),
 * `make local` and the Pulumi ConfigMap/Secret keys.
 */
import { z } from 'zod';
import { PLAINTEXT_SSLMODES } from './db/tls';
import { EVENT_TYPE } from './ingest/event-type';

interface Setting<T extends z.ZodType> {
  schema: T;
  /** The default as it would be written in the environment; absent means required. */
  default?: string;
  doc: string;
  /** Secrets never appear in logs and go into a Kubernetes Secret, not a ConfigMap. */
  secret?: boolean;
}

/** Digits only: an empty or padded value (`PORT=`) is a mistake, never 0 or a default. */
const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
const ms = int(1, 3_600_000);
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
  );

function setting<T extends z.ZodType>(s: Setting<T>): Setting<T> {
  return s;
}

export const settings = {
  PORT: setting({ schema: int(0, 65535), default: '8080', doc: 'TCP port of the HTTP server (0 picks a free port).' }),
  HOST: setting({ schema: z.string().min(1), default: '0.0.0.0', doc: 'Address the HTTP server binds.' }),
  DATABASE_URL: setting({
    schema: url(['postgres:', 'postgresql:']),
    doc: 'PostgreSQL connection URL. The service connects as a role that reads and writes rows only; migrations and the maintenance job as the owner of the tables.',
    secret: true,
  }),
  SERVICE_DATABASE_URL: setting({
    schema: z.union([z.literal(''), url(['postgres:', 'postgresql:'])]),
    default: '',
    doc: "Migrations: the service's connection URL. Its user is created (or its password set) as a role that may read and write rows but run no DDL; empty manages no role.",
    secret: true,
  }),
  READ_DATABASE_URL: setting({
    schema: z.union([z.literal(''), url(['postgres:', 'postgresql:'])]),
    default: '',
    doc: "Reading events back (GET /api/v1/events) connects here instead of DATABASE_URL, e.g. a cluster's read-only replicas; empty reads from DATABASE_URL.",
    secret: true,
  }),
  DATABASE_OWNER_ROLE: setting({
    schema: z.union([z.literal(''), z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a PostgreSQL role name (lower case, digits, _)')]),
    default: '',
    doc: "Migrations and maintenance job: the role that owns the tables, when DATABASE_URL's user is a migrator that is a member of it (it may be NOLOGIN): they act as this role (SET ROLE at connect), so nobody logs in as the owner. Empty: DATABASE_URL's user owns the tables.",
  }),
  MONITOR_DATABASE_URL: setting({
    schema: z.union([z.literal(''), url(['postgres:', 'postgresql:'])]),
    default: '',
    doc: "Migrations: the PostgreSQL exporter's connection URL. Its user is created (or its password set) as a role with PostgreSQL's pg_monitor only (statistics, no rows); empty manages no role.",
    secret: true,
  }),
  DATABASE_CA_FILE: setting({
    schema: z.union([z.literal(''), z.string().regex(/^\//, 'must be an absolute path')]),
    default: '',
    doc: "PEM file of the CA that signed PostgreSQL's certificate (a managed database's own CA, mounted from a ConfigMap or Secret). Set: the service, the migrations and the maintenance job connect with sslmode=verify-full against it (`sslmode=require` alone trusts only Node's public CAs, which a provider's private CA is not). Empty: the URL's sslmode applies.",
  }),
  MIGRATE_WAIT_S: setting({
    schema: int(0, 3600),
    default: '180',
    doc: 'Migrations: how long to wait for PostgreSQL to accept connections (each attempt is logged) before failing.',
  }),
  MIGRATE_LOCK_TIMEOUT_MS: setting({
    schema: int(0, 600_000),
    default: '1000',
    doc: 'Migrations: lock_timeout of every migration statement, so that ingest of the running version never queues longer than this behind one (0: wait forever).',
  }),
  MIGRATE_LOCK_RETRIES: setting({
    schema: int(0, 1000),
    default: '20',
    doc: 'Migrations: runs again after a lock timeout (the attempt is rolled back; pauses double from 0.5 s to 15 s: 20 is about 4 minutes) before failing.',
  }),
  REDIS_URL: setting({
    schema: url(['redis:', 'rediss:']),
    doc: 'Redis connection URL (rate limiting; the service keeps ingesting when Redis is down).',
    secret: true,
  }),
  ADMIN_TOKEN: setting({
    // Whatever an `Authorization: Bearer` header can carry, or the token could never match (a trailing newline from a Secret file).
    schema: z
      .string()
      .regex(/^[\x21-\x7e]*$/, 'must be printable ASCII without spaces or line breaks (a trailing newline is a common Secret mistake)')
      .min(32, 'must be at least 32 characters')
      .refine((t) => new Set(t).size >= 8, 'is too weak: use at least 8 distinct characters (e.g. `openssl rand -hex 32`)'),
    doc: 'Bearer token for the admin routes (sensor management): at least 32 printable ASCII characters, 8 of them distinct.',
    secret: true,
  }),
  PUSHGATEWAY_URL: setting({
    schema: z.union([z.literal(''), url(['http:', 'https:'])]),
    default: '',
    doc: 'Prometheus Pushgateway the maintenance job pushes to; empty disables pushing.',
  }),
  LOG_LEVEL: setting({
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
    doc: 'pino log level.',
  }),
  LOG_CLIENT_ERRORS_PER_S: setting({
    schema: int(0, 100_000),
    default: '10',
    doc: 'Most log lines per second about client errors (4xx access lines, malformed HTTP), in bursts of as many; the rest are counted in log_lines_suppressed_total.',
  }),
  SHUTDOWN_GRACE_MS: setting({
    schema: ms,
    default: '10000',
    doc: 'On SIGTERM, how long in-flight requests and queued events get before the process exits.',
  }),
  HTTP_HEADERS_TIMEOUT_MS: setting({ schema: ms, default: '10000', doc: 'A client must send all request headers within this time.' }),
  HTTP_REQUEST_TIMEOUT_MS: setting({ schema: ms, default: '30000', doc: 'A client must send the whole request within this time.' }),
  HTTP_KEEPALIVE_TIMEOUT_MS: setting({ schema: ms, default: '5000', doc: 'Idle keep-alive connections are closed after this time.' }),
  DB_POOL_MAX: setting({ schema: int(1, 100), default: '10', doc: 'Maximum PostgreSQL connections per instance.' }),
  DB_READ_POOL_MAX: setting({
    schema: int(1, 100),
    default: '2',
    doc: 'PostgreSQL connections for reading events back, apart from DB_POOL_MAX: reads never take the connections flushes need.',
  }),
  READS_PER_SENSOR: setting({
    schema: int(1, 100),
    default: '1',
    doc: 'Reads one sensor may have in flight at once (more get 429): no sensor holds every read connection while others wait.',
  }),
  READ_TIMEOUT_MS: setting({
    schema: ms,
    default: '2000',
    doc: 'Statement timeout of reads; a read running longer gets 503 read_timeout (narrow it with since/until).',
  }),
  READ_PAGE_MAX_BYTES: setting({
    schema: int(1024, 64 * 1024 * 1024),
    default: '1048576',
    doc: 'A page of read-back events ends once it holds this many bytes of JSON (with at least one event); nextCursor continues.',
  }),
  DB_CONNECT_TIMEOUT_MS: setting({ schema: ms, default: '2000', doc: 'Time allowed to open a PostgreSQL connection.' }),
  DB_STATEMENT_TIMEOUT_MS: setting({ schema: ms, default: '5000', doc: 'Server-side statement timeout for every query.' }),
  REDIS_COMMAND_TIMEOUT_MS: setting({
    schema: ms,
    default: '100',
    doc: 'A Redis command slower than this counts as Redis being down (fail open).',
  }),
  READY_CHECK_TIMEOUT_MS: setting({ schema: ms, default: '1000', doc: 'Time each dependency probe may take.' }),
  READY_PROBE_INTERVAL_MS: setting({
    schema: int(100, 60_000),
    default: '1000',
    doc: 'PostgreSQL and Redis are probed this often, on a connection of their own; /readyz and /metrics serve the last result. After a failed Redis call the rate limiter asks Redis again at most this often (in between, it limits in-process).',
  }),
  BODY_LIMIT_BYTES: setting({
    schema: int(1024, 64 * 1024 * 1024),
    default: '1048576',
    doc: 'Largest accepted request body (after decompression); larger bodies get 413.',
  }),
  MAX_EVENTS_PER_REQUEST: setting({ schema: int(1, 100_000), default: '1000', doc: 'Most events in one batch request; more get 413.' }),
  PAYLOAD_MAX_BYTES: setting({ schema: int(16, 1024 * 1024), default: '16384', doc: 'Largest payload of one event, as JSON.' }),
  PAYLOAD_MAX_DEPTH: setting({ schema: int(1, 64), default: '8', doc: 'Deepest nesting of objects/arrays in a payload.' }),
  EVENT_MAX_AGE_S: setting({
    schema: int(1, 366 * 86400),
    default: '604800',
    doc: 'Events older than this (after skew correction) are rejected.',
  }),
  EVENT_MAX_FUTURE_S: setting({
    schema: int(0, 86400),
    default: '300',
    doc: 'Events further than this in the future (after skew correction) are rejected.',
  }),
  INGEST_FLUSH_ROWS: setting({
    schema: int(1, 100_000),
    default: '2000',
    doc: 'Most events in one flush (a request is never split); a flush starts at once when this many are queued.',
  }),
  INGEST_FLUSH_MS: setting({
    schema: int(0, 10_000),
    default: '0',
    doc: 'Extra wait after the first queued event before a flush starts (0: as soon as a flush slot is free; more trades latency for bigger flushes).',
  }),
  INGEST_MAX_CONCURRENT_FLUSHES: setting({
    schema: int(1, 64),
    default: '4',
    doc: 'Flushes running at once (each holds one pool connection).',
  }),
  INGEST_QUEUE_MAX_ROWS: setting({
    schema: int(1, 10_000_000),
    default: '50000',
    doc: 'Queued + in-flight events above which new requests get 503 (backpressure).',
  }),
  INGEST_QUEUE_MAX_BYTES: setting({
    schema: int(1024, 4 * 1024 * 1024 * 1024),
    default: '67108864',
    doc: 'Queued + in-flight payload bytes above which new requests get 503.',
  }),
  SENSOR_CACHE_TTL_MS: setting({
    schema: int(0, 600_000),
    default: '3000',
    doc: 'How long a token lookup is cached in-process: a revocation reaches every instance within this time.',
  }),
  SENSOR_CACHE_MAX: setting({ schema: int(1, 10_000_000), default: '100000', doc: 'Most cached token lookups.' }),
  RATE_LIMIT_EVENTS: setting({
    schema: int(1, 1_000_000_000),
    default: '6000',
    doc: 'Units one sensor may spend per window: an event, a request (at least one unit each), or an event read back.',
  }),
  RATE_LIMIT_WINDOW_S: setting({ schema: int(1, 86400), default: '60', doc: 'Rate limit window.' }),
  RATE_LIMIT_BLOCK: setting({
    schema: z.union([z.literal(''), int(1, 1_000_000_000)]),
    default: '',
    doc: 'Units an instance reserves from Redis at once (one round trip per block, not per request); a sensor may be refused up to (instances − 1) × this early. Empty: 1 % of RATE_LIMIT_EVENTS (at least 1), so the error stays 1 % of the limit per extra instance whatever the limit.',
  }),
  RATE_LIMIT_BYTES_PER_UNIT: setting({
    schema: int(1024, 64 * 1024 * 1024),
    default: '16384',
    doc: 'A request body costs one rate-limit unit per this many bytes (after decompression) when that is more than its events: large bodies with few events are charged for their size.',
  }),
  INGEST_BODIES_PER_SENSOR: setting({
    schema: int(1, 100_000),
    default: '16',
    doc: 'Request bodies one sensor may have in flight (being received or parsed) at once; more get 429.',
  }),
  INGEST_BODIES_MAX: setting({
    schema: int(1, 100_000),
    default: '64',
    doc: 'Request bodies in flight at once on this instance, all sensors together; more get 503 (memory bound: this × BODY_LIMIT_BYTES).',
  }),
  METRIC_EVENT_TYPES: setting({
    schema: z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().max(64).regex(EVENT_TYPE, 'each type must be letters, digits and _ . : - only')).max(200)),
    default: '',
    doc: 'Comma-separated event types (at most 200) that get their own `type` label on events_ingested_total; every other type is counted as `other`, so sensors never choose label values.',
  }),
  RETENTION_DAYS: setting({
    schema: int(1, 3650),
    default: '30',
    doc: 'Maintenance job: daily event partitions older than this are dropped.',
  }),
  PARTITIONS_AHEAD_DAYS: setting({
    schema: int(1, 365),
    default: '7',
    doc: 'Maintenance job: daily partitions are created this many days ahead.',
  }),
  DEDUPE_WINDOW_DAYS: setting({
    schema: int(1, 3650),
    default: '8',
    doc: 'Client-supplied event ids are remembered this long for dedupe (events sent without an id are not deduplicated): a retry within this time of the first acceptance is always caught. Later, only events sent with `ts` and no `sentAt` are still caught (by their stored time, until retention).',
  }),
  MAINTENANCE_LOCK_TIMEOUT_MS: setting({
    schema: ms,
    default: '1000',
    doc: 'Maintenance job: longest wait for a lock per DDL statement (ingest never waits behind it longer).',
  }),
  MAINTENANCE_LOCK_RETRIES: setting({
    schema: int(0, 100),
    default: '10',
    doc: 'Maintenance job: retries of a DDL statement that hit the lock timeout (pauses double from 250 ms to 10 s).',
  }),
  ROLLUP_DAYS: setting({
    schema: int(1, 366),
    default: '2',
    doc: 'Maintenance job: daily per-sensor counts are recomputed for this many recent days.',
  }),
};

export type SettingName = keyof typeof settings;
export type Config = { [K in SettingName]: z.output<(typeof settings)[K]['schema']> };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

/** Parses the environment; throws ConfigError listing one line per bad or missing variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return loadSettings(Object.keys(settings) as SettingName[], env) as Config;
}

/**
 * Settings that are each valid but contradict one another. A rule runs wherever all the settings it
 * reads are loaded: in the service, in the maintenance job, and on a stack's settings before `pulumi up`.
 */
interface CrossRule {
  /** Every setting `problem` reads. */
  reads: SettingName[];
  problem(c: Config): string | undefined;
}
const crossRule = (r: CrossRule) => r;

const CROSS_RULES = [
  crossRule({
    reads: ['DATABASE_URL', 'DATABASE_CA_FILE'],
    problem: (c) => {
      const mode = new URL(c.DATABASE_URL).searchParams.get('sslmode');
      return c.DATABASE_CA_FILE && mode && PLAINTEXT_SSLMODES.includes(mode)
        ? `DATABASE_CA_FILE: a CA bundle means verified TLS, but DATABASE_URL says sslmode=${mode}: drop its sslmode (verify-full is used) or the bundle`
        : undefined;
    },
  }),
  crossRule({
    reads: ['INGEST_MAX_CONCURRENT_FLUSHES', 'DB_POOL_MAX'],
    problem: (c) =>
      c.INGEST_MAX_CONCURRENT_FLUSHES >= c.DB_POOL_MAX
        ? `INGEST_MAX_CONCURRENT_FLUSHES: must be below DB_POOL_MAX (${c.DB_POOL_MAX}), so that token lookups, reads and /readyz still get a connection (got ${c.INGEST_MAX_CONCURRENT_FLUSHES})`
        : undefined,
  }),
  crossRule({
    reads: ['INGEST_QUEUE_MAX_ROWS', 'MAX_EVENTS_PER_REQUEST'],
    problem: (c) =>
      c.INGEST_QUEUE_MAX_ROWS < c.MAX_EVENTS_PER_REQUEST
        ? `INGEST_QUEUE_MAX_ROWS: must be at least MAX_EVENTS_PER_REQUEST (${c.MAX_EVENTS_PER_REQUEST}), or the largest allowed batch could only be queued into an empty queue (got ${c.INGEST_QUEUE_MAX_ROWS})`
        : undefined,
  }),
  crossRule({
    reads: ['DEDUPE_WINDOW_DAYS', 'EVENT_MAX_AGE_S'],
    problem: (c) =>
      c.DEDUPE_WINDOW_DAYS * 86400 <= c.EVENT_MAX_AGE_S
        ? `DEDUPE_WINDOW_DAYS: must cover more than EVENT_MAX_AGE_S (${c.EVENT_MAX_AGE_S} s), or a retry of an event whose time came from the receive time or \`sentAt\` correction, arriving after its id was forgotten, could be stored twice (got ${c.DEDUPE_WINDOW_DAYS})`
        : undefined,
  }),
  crossRule({
    reads: ['RETENTION_DAYS', 'EVENT_MAX_AGE_S'],
    problem: (c) =>
      c.RETENTION_DAYS * 86400 <= c.EVENT_MAX_AGE_S + 86400
        ? `RETENTION_DAYS: must cover EVENT_MAX_AGE_S (${c.EVENT_MAX_AGE_S} s) plus a day, or accepted events could fall into a partition already dropped (got ${c.RETENTION_DAYS})`
        : undefined,
  }),
];

/** Parses only the named settings (batch jobs need fewer than the service), then the cross-setting rules among them. */
export function loadSettings<K extends SettingName>(names: readonly K[], env: NodeJS.ProcessEnv = process.env): Pick<Config, K> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const s: Setting<z.ZodType> = settings[name];
    const raw = env[name] ?? s.default;
    if (raw === undefined) {
      problems.push(`${name}: required but not set (${s.doc})`);
      continue;
    }
    const parsed = s.schema.safeParse(raw);
    if (parsed.success) out[name] = parsed.data;
    else
      problems.push(
        `${name}: ${parsed.error.issues.map((i) => i.message).join('; ')} (got ${s.secret ? '<redacted>' : JSON.stringify(raw)})`,
      );
  }
  if (problems.length) throw new ConfigError(problems);
  const loaded = new Set<string>(names);
  for (const rule of CROSS_RULES) {
    if (!rule.reads.every((name) => loaded.has(name))) continue;
    const problem = rule.problem(out as Config);
    if (problem) problems.push(problem);
  }
  if (problems.length) throw new ConfigError(problems);
  return out as Pick<Config, K>;
}

/** The configuration with secrets removed, for the start-up log line. */
export function configSummary(config: Config): Record<string, unknown> {
  return Object.fromEntries((Object.keys(settings) as SettingName[]).filter((k) => !settings[k].secret).map((k) => [k, config[k]]));
}
