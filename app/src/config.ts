/**
 * Every setting of the service, from environment variables, validated once at start-up.
 * This table is the one source for the README's configuration table (`make config-docs`),
 * `make local` and the Pulumi ConfigMap/Secret keys.
 */
import { z } from 'zod';

interface Setting<T extends z.ZodType> {
  schema: T;
  /** The default as it would be written in the environment; absent means required. */
  default?: string;
  doc: string;
  /** Secrets never appear in logs and go into a Kubernetes Secret, not a ConfigMap. */
  secret?: boolean;
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
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
  DATABASE_URL: setting({ schema: url(['postgres:', 'postgresql:']), doc: 'PostgreSQL connection URL.', secret: true }),
  REDIS_URL: setting({
    schema: url(['redis:', 'rediss:']),
    doc: 'Redis connection URL (rate limiting; the service keeps ingesting when Redis is down).',
    secret: true,
  }),
  ADMIN_TOKEN: setting({
    schema: z.string().min(32, 'must be at least 32 characters'),
    doc: 'Bearer token for the admin routes (sensor management). At least 32 characters.',
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
  SHUTDOWN_GRACE_MS: setting({
    schema: ms,
    default: '10000',
    doc: 'On SIGTERM, how long in-flight requests and queued events get before the process exits.',
  }),
  HTTP_HEADERS_TIMEOUT_MS: setting({ schema: ms, default: '10000', doc: 'A client must send all request headers within this time.' }),
  HTTP_REQUEST_TIMEOUT_MS: setting({ schema: ms, default: '30000', doc: 'A client must send the whole request within this time.' }),
  HTTP_KEEPALIVE_TIMEOUT_MS: setting({ schema: ms, default: '5000', doc: 'Idle keep-alive connections are closed after this time.' }),
  DB_POOL_MAX: setting({ schema: int(1, 100), default: '10', doc: 'Maximum PostgreSQL connections per instance.' }),
  DB_CONNECT_TIMEOUT_MS: setting({ schema: ms, default: '2000', doc: 'Time allowed to open a PostgreSQL connection.' }),
  DB_STATEMENT_TIMEOUT_MS: setting({ schema: ms, default: '5000', doc: 'Server-side statement timeout for every query.' }),
  REDIS_COMMAND_TIMEOUT_MS: setting({
    schema: ms,
    default: '100',
    doc: 'A Redis command slower than this counts as Redis being down (fail open).',
  }),
  READY_CHECK_TIMEOUT_MS: setting({ schema: ms, default: '1000', doc: 'Time each dependency check of /readyz may take.' }),
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
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(settings) as [SettingName, Setting<z.ZodType>][]) {
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
  return out as Config;
}

/** The configuration with secrets removed, for the start-up log line. */
export function configSummary(config: Config): Record<string, unknown> {
  return Object.fromEntries((Object.keys(settings) as SettingName[]).filter((k) => !settings[k].secret).map((k) => [k, config[k]]));
}
