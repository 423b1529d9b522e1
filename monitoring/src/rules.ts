/**
 * The Prometheus recording and alert rules, as data built from the contract: alerts/rules/*.yml are rendered
 * from here (`make alerts`; `make alerts-check` fails while they are stale), like dashboards/json from
 * dashboards/src. Thresholds, `for` durations and the burn-window table are numbers here, and every
 * `runbook_url` comes from RUNBOOK_URL_PATTERN when the files are rendered.
 */
import YAML from 'yaml';
import {
  ALERTMANAGER_JOB,
  APP_JOB,
  CNPG_JOB,
  appSelector,
  BURN_WINDOWS,
  BurnWindow,
  MAINTENANCE_JOB,
  POSTGRES_EXPORTER_JOB,
  PROMETHEUS_JOB,
  PUSHGATEWAY_JOB,
  REDIS_EXPORTER_JOB,
  runbookUrl,
  RUNBOOK_URL_PATTERN,
  SLO,
  WATCHDOG_ALERT,
} from './contract';
import { MAINTENANCE_METRICS, SERVICE_METRICS } from './metrics';
import { kubernetesRuleFile } from './kubernetes-rules';
import { apiSeries, SLI_ERROR_RATIO, sliErrorRecord, SLO_OBJECTIVE_RECORD } from './promql';

export type Severity = 'critical' | 'warning' | 'none';

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  severity: Severity;
  /** Labels beyond severity (e.g. a burn-rate pair's long and short windows). */
  labels?: Record<string, string>;
  /** Static: no template, it names the problem. */
  summary: string;
  /** Templated with the alert's value and labels. */
  description: string;
  /** Why the rule is as it is; rendered as a comment above it. */
  comment?: string;
}

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
  comment?: string;
}

export type Rule = AlertRule | RecordingRule;

export interface RuleGroup {
  name: string;
  rules: Rule[];
  comment?: string;
}

/** One file of alerts/rules: its name (without .yml), header comment and groups. */
export interface RuleFile {
  name: string;
  header: string;
  groups: RuleGroup[];
}

const isAlert = (r: Rule): r is AlertRule => 'alert' in r;
const PATTERN = /^(\d+)([mhd])$/;
const MINUTES = { m: 1, h: 60, d: 1440 } as const;
const minutes = (d: string) => {
  const m = PATTERN.exec(d);
  if (!m) throw new Error(`not a duration in m, h or d: ${d}`);
  return Number(m[1]) * MINUTES[m[2] as keyof typeof MINUTES];
};
/** 'one hour' style, as the descriptions say it. */
const spoken = (d: string) => {
  const [, n, unit] = PATTERN.exec(d)!;
  const word = { m: 'minute', h: 'hour', d: 'day' }[unit as 'm' | 'h' | 'd'];
  return n === '1' ? `1 ${word}` : `${n} ${word}s`;
};
const humanPercent = (x: number) => `${+(x * 100).toFixed(6)}%`;

const app = (metric: string, ...matchers: string[]) => `${metric}{${appSelector(...matchers)}}`;
const job = (metric: string, name: string, ...matchers: string[]) => `${metric}{${[`job="${name}"`, ...matchers].join(',')}}`;

// ---- The event service ----------------------------------------------------------------------------------------

/** An API route's 5xx ratio that opens a ticket, over `window`, with the traffic below which no ratio is a trend. */
export const ROUTE_ERROR_RATIO = { threshold: 0.05, window: '5m', minRequestsPerSecond: 0.2, for: '10m' } as const;
/** An API route's p99 latency (seconds) that opens a ticket, with the same minimum traffic. */
export const ROUTE_LATENCY_P99 = { thresholdSeconds: 1, window: '5m', minRequestsPerSecond: 0.2, for: '10m' } as const;
/** Share of the events sent refused for backpressure (queue full). */
export const BACKPRESSURE_RATIO = { threshold: 0.01, window: '5m', for: '5m' } as const;
/** Fill level of the ingest queue that warns before 503s start at 100 %. */
export const QUEUE_SATURATION = { threshold: 0.8, for: '5m' } as const;

/** A rate summed per API route. */
const perRoute = (inner: string) => `sum by (job, route) (${inner})`;
/** The least traffic a route needs before its ratio or percentile counts, in words. */
const minTraffic = (rps: number, window: string) => `${Math.round(rps * minutes(window) * 60)} requests in ${minutes(window)} minutes`;

/** Whether the instances answer Prometheus at all. */
function serviceAvailabilityAlerts(): AlertRule[] {
  return [
    {
      comment: 'One instance down is a ticket: the others still serve (the SLO alerts page if users notice).',
      alert: 'EventServiceDown',
      expr: `${app('up')} == 0`,
      for: '5m',
      severity: 'warning',
      summary: 'An event service instance does not answer Prometheus scrapes.',
      description: 'Prometheus has failed to scrape {{ $labels.instance }} (job {{ $labels.job }}) for at least 5 minutes.',
    },
    {
      comment: 'Every instance down is a page: nothing accepts events.',
      alert: 'EventServiceAllInstancesDown',
      expr: `max by (job) (${app('up')}) == 0`,
      for: '2m',
      severity: 'critical',
      summary: 'No event service instance answers Prometheus scrapes.',
      description: 'Prometheus has failed to scrape every instance of {{ $labels.job }} for at least 2 minutes: nothing accepts events.',
    },
    {
      alert: 'EventServiceTargetAbsent',
      expr: `absent(${app('up')})`,
      for: '5m',
      severity: 'critical',
      summary: 'Prometheus has no event service target to scrape.',
      description:
        'No target of job {{ $labels.job }} has been discovered for 5 minutes: the service is not deployed or service discovery lost it.',
    },
  ];
}

/** Errors and latency of one API route, each above a minimum of traffic. */
function serviceRouteAlerts(): AlertRule[] {
  const { httpRequests, httpDuration } = SERVICE_METRICS;
  const er = ROUTE_ERROR_RATIO;
  const lat = ROUTE_LATENCY_P99;
  return [
    {
      comment: `Minimum traffic (${minTraffic(er.minRequestsPerSecond, er.window)}): on a quiet route, two failures in a handful of requests are no trend.`,
      alert: 'EventServiceErrorRatioHigh',
      expr: [
        perRoute(`rate(${apiSeries(httpRequests.name, 'code=~"5.."')}[${er.window}])`),
        '/',
        perRoute(`rate(${apiSeries(httpRequests.name)}[${er.window}])`),
        `> ${er.threshold}`,
        'and',
        `${perRoute(`rate(${apiSeries(httpRequests.name)}[${er.window}])`)} >= ${er.minRequestsPerSecond}`,
        '',
      ].join('\n'),
      for: er.for,
      severity: 'warning',
      summary: `More than ${humanPercent(er.threshold)} of requests to an API route fail with a 5xx.`,
      description: `{{ $value | humanizePercentage }} of requests to {{ $labels.route }} failed with a 5xx over the last ${minutes(er.window)} minutes.`,
    },
    {
      comment: `Minimum traffic (${minTraffic(lat.minRequestsPerSecond, lat.window)}): with fewer, the p99 is just the slowest request.`,
      alert: 'EventServiceLatencyP99High',
      expr: [
        `histogram_quantile(0.99, sum by (job, route, le) (rate(${apiSeries(`${httpDuration.name}_bucket`)}[${lat.window}])))`,
        `> ${lat.thresholdSeconds}`,
        'and',
        `${perRoute(`rate(${apiSeries(`${httpDuration.name}_count`)}[${lat.window}])`)} >= ${lat.minRequestsPerSecond}`,
        '',
      ].join('\n'),
      for: lat.for,
      severity: 'warning',
      summary: `The 99th percentile latency of an API route is above ${lat.thresholdSeconds} second${lat.thresholdSeconds === 1 ? '' : 's'}.`,
      description: `p99 latency of {{ $labels.route }} has been {{ $value | humanizeDuration }} over the last ${minutes(lat.window)} minutes (threshold ${lat.thresholdSeconds}s).`,
    },
  ];
}

/** The ingest queue: events turned away when full, and the fill level before that. */
function serviceIngestQueueAlerts(): AlertRule[] {
  const { eventsRejected, eventsIngested, eventsDuplicates, ingestQueueRows, ingestQueueMaxRows } = SERVICE_METRICS;
  const allEvents = [eventsIngested, eventsDuplicates, eventsRejected].map((m) => m.name).join('|');
  return [
    {
      comment: "Only the queue-full reason: a 503 from an unreachable database is EventServicePostgresUnreachable's.",
      alert: 'EventServiceBackpressure',
      expr: [
        `sum by (job) (rate(${app(eventsRejected.name, 'reason="backpressure"')}[${BACKPRESSURE_RATIO.window}]))`,
        '/',
        `sum by (job) (rate({${appSelector(`__name__=~"${allEvents}"`)}}[${BACKPRESSURE_RATIO.window}]))`,
        `> ${BACKPRESSURE_RATIO.threshold}`,
        '',
      ].join('\n'),
      for: BACKPRESSURE_RATIO.for,
      severity: 'warning',
      summary: 'The event service turns away events with 503 because its ingest queue is full.',
      description: `{{ $value | humanizePercentage }} of the events sent to {{ $labels.job }} were refused because the ingest queue was full (backpressure) over the last ${minutes(BACKPRESSURE_RATIO.window)} minutes.`,
    },
    {
      alert: 'EventServiceIngestQueueSaturated',
      expr: `max by (job, instance) (${app(ingestQueueRows.name)} / ${app(ingestQueueMaxRows.name)}) > ${QUEUE_SATURATION.threshold}`,
      for: QUEUE_SATURATION.for,
      severity: 'warning',
      summary: `The in-memory ingest queue of an instance is more than ${humanPercent(QUEUE_SATURATION.threshold)} full.`,
      description:
        'The ingest queue of {{ $labels.instance }} is {{ $value | humanizePercentage }} full: PostgreSQL commits are not keeping up, 503s follow at 100%.',
    },
  ];
}

/** PostgreSQL and Redis as the service reaches them. */
function serviceDependencyAlerts(): AlertRule[] {
  return [
    {
      alert: 'EventServicePostgresUnreachable',
      expr: `${app(SERVICE_METRICS.postgresUp.name)} == 0`,
      for: '1m',
      severity: 'critical',
      summary: 'The event service cannot reach PostgreSQL, so it cannot store events.',
      description: '{{ $labels.instance }} has failed SELECT 1 against PostgreSQL at every scrape for 1 minute; ingest answers 503.',
    },
    {
      alert: 'EventServiceRedisUnreachable',
      expr: `${app(SERVICE_METRICS.redisUp.name)} == 0`,
      for: '5m',
      severity: 'warning',
      summary: 'The event service cannot reach Redis and rate-limits in-process only.',
      description: '{{ $labels.instance }} has had no Redis connection for 5 minutes; rate limits are per instance until it is back.',
    },
  ];
}

function serviceRules(): RuleFile {
  return {
    name: 'service',
    header: `Symptoms and causes of the event service (Prometheus job "${APP_JOB}"), beside the SLO alerts in slo.yml.`,
    groups: [
      {
        name: 'event-service',
        rules: [...serviceAvailabilityAlerts(), ...serviceRouteAlerts(), ...serviceIngestQueueAlerts(), ...serviceDependencyAlerts()],
      },
    ],
  };
}

// ---- SLOs -----------------------------------------------------------------------------------------------------

const SLOS = ['availability', 'latency'] as const;
type SloName = (typeof SLOS)[number];

/** The SLI windows: every window of the burn-rate table, shortest first. */
export const SLI_WINDOWS = [...new Set(BURN_WINDOWS.flatMap((w) => [w.long, w.short]))].sort((a, b) => minutes(a) - minutes(b));
/** The SLO window's SLI, averaged from the 5-minute ones. */
export const SLO_WINDOW = `${SLO.windowDays}d`;

/** Alert name of a burn-rate pair: critical pairs burn fast, warning pairs slowly. */
export const burnAlertName = (slo: SloName, w: BurnWindow) =>
  `EventService${slo === 'availability' ? 'Availability' : 'Latency'}BudgetBurn${w.severity === 'critical' ? 'Fast' : 'Slow'}`;

function burnAlert(slo: SloName, w: BurnWindow): AlertRule {
  const fast = w.severity === 'critical';
  const budget = `1 - ${SLO_OBJECTIVE_RECORD}{slo="${slo}"}`;
  const over = (window: string) =>
    `${sliErrorRecord(window)}{slo="${slo}"} > on (job, slo) (${w.factor === 1 ? budget : `${w.factor} * (${budget})`})`;
  const budgetShare = (w.factor * minutes(w.long)) / (SLO.windowDays * MINUTES.d);
  const longSpoken = { m: 'min', h: 'h', d: 'd' }[PATTERN.exec(w.long)![2] as 'm' | 'h' | 'd'];
  const what = slo === 'availability' ? 'failed with a 5xx' : `took longer than ${SLO.latency.thresholdSeconds} s`;
  const runsOut = w.factor === 1 ? `before the ${SLO.windowDays} days end` : `within ${Math.floor(SLO.windowDays / w.factor)} days`;
  return {
    comment: `${fast ? 'Page' : 'Ticket'}: ${humanPercent(budgetShare)} of the ${SLO.windowDays}-day budget in ${PATTERN.exec(w.long)![1]} ${longSpoken} (${w.factor}×); the ${w.short} window makes it reset soon after the errors stop.`,
    alert: burnAlertName(slo, w),
    expr: `${over(w.long)}\nand\n${over(w.short)}\n`,
    for: w.for,
    severity: w.severity,
    labels: { long: w.long, short: w.short },
    summary: fast
      ? `The event service is burning its ${slo} error budget fast enough to exhaust it within days.`
      : `The event service is spending its ${slo} error budget faster than the ${SLO.windowDays}-day objective allows.`,
    description: `{{ $value | humanizePercentage }} of {{ $labels.job }} API requests ${what} over the last ${w.long}, and still over the last ${w.short}: above ${w.factor}× the sustainable rate, the ${SLO.windowDays}-day ${slo} error budget runs out ${runsOut}.`,
  };
}

function sloRules(): RuleFile {
  return {
    name: 'slo',
    header: [
      'Service level objectives of the event service: SLI recording rules and multi-window, multi-burn-rate alerts',
      `(Google SRE Workbook, "Alerting on SLOs"). Both SLOs cover the API routes (/api/v1/…) over ${SLO.windowDays} days:`,
      `  availability: ${humanPercent(SLO.availability.objective)} of API requests answer without a 5xx (a 503 from backpressure counts as an error);`,
      `  latency:      ${humanPercent(SLO.latency.objective)} of API requests complete within ${SLO.latency.thresholdSeconds} s (the histogram bucket le="${SLO.latency.thresholdSeconds}").`,
      `slo:sli_error:ratio_rate<window> is the fraction of "bad" requests (5xx, or slower than ${SLO.latency.thresholdSeconds} s) per window;`,
      `${SLO_OBJECTIVE_RECORD} holds each objective, so alerts and the SLO dashboard share one number.`,
      'Burn-rate alerts: one rule per window pair (long/short in labels, each pair with its own `for`), as in',
      `kubernetes-mixin: ${BURN_WINDOWS.filter((w) => w.severity === 'critical')
        .map((w) => `${w.long}/${w.short}`)
        .join(' and ')} page, ${BURN_WINDOWS.filter((w) => w.severity !== 'critical')
        .map((w) => `${w.long}/${w.short}`)
        .join(' and ')} open a ticket.`,
    ].join('\n'),
    groups: [
      {
        comment: "One group: rules run in order, so the alerts see this evaluation's SLIs, not the previous one's.",
        name: 'event-service-slo',
        rules: [
          ...SLOS.map((slo) => ({ record: SLO_OBJECTIVE_RECORD, labels: { job: APP_JOB, slo }, expr: `vector(${SLO[slo].objective})` })),
          ...SLI_WINDOWS.flatMap((w) =>
            SLOS.map((slo) => ({ record: sliErrorRecord(w), labels: { slo }, expr: SLI_ERROR_RATIO[slo](w, { by: ['job'] }) })),
          ),
          {
            comment: [
              `The ${SLO.windowDays}-day SLI averages the recorded 5 m ratios (Sloth): rate(…[${SLO_WINDOW}]) over raw series would read ${SLO.windowDays}`,
              'days of samples per evaluation. Each 5 m ratio weighs the same, whatever its traffic.',
            ].join('\n'),
            record: sliErrorRecord(SLO_WINDOW),
            expr: `avg_over_time(${sliErrorRecord(SLI_WINDOWS[0]!)}[${SLO_WINDOW}])`,
          },
          ...SLOS.flatMap((slo) => BURN_WINDOWS.map((w) => burnAlert(slo, w))),
        ],
      },
    ],
  };
}

// ---- The maintenance job --------------------------------------------------------------------------------------

/** The job runs daily: its period plus a margin before it counts as stale. */
export const MAINTENANCE_STALE_HOURS = 26;

function maintenanceRules(): RuleFile {
  const m = MAINTENANCE_METRICS;
  const pushed = (metric: string) => job(metric, MAINTENANCE_JOB);
  return {
    name: 'maintenance',
    header: [
      `The daily maintenance batch job (partitions, roll-ups). It pushes to the Pushgateway as job="${MAINTENANCE_JOB}";`,
      'Prometheus scrapes the Pushgateway with honor_labels, so these series keep the pushed job label.',
    ].join('\n'),
    groups: [
      {
        name: 'event-maintenance',
        rules: [
          {
            comment: `The job runs daily: 24 h period + ${MAINTENANCE_STALE_HOURS - 24} h margin.`,
            alert: 'EventMaintenanceJobStale',
            expr: `time() - ${pushed(m.lastSuccess.name)} > ${MAINTENANCE_STALE_HOURS} * 3600`,
            for: '10m',
            severity: 'warning',
            summary: 'The maintenance job has not succeeded within its daily period plus margin.',
            description: `The last successful maintenance run was {{ $value | humanizeDuration }} ago (expected at least every ${MAINTENANCE_STALE_HOURS}h).`,
          },
          {
            comment: [
              "EventMaintenanceJobStale's companion: without the series (a restarted Pushgateway, a stage where the job",
              'never succeeded) it evaluates on nothing and cannot fire.',
            ].join('\n'),
            alert: 'EventMaintenanceLastSuccessAbsent',
            expr: `absent(${pushed(m.lastSuccess.name)})`,
            for: '1h',
            severity: 'warning',
            summary: 'No last-success time of the maintenance job is known, so a stale job would go unnoticed.',
            description: `Prometheus has had no ${m.lastSuccess.name} series of job {{ $labels.job }} for ${spoken('1h')}: the job never succeeded on this stage or the Pushgateway lost its metrics.`,
          },
          {
            alert: 'EventMaintenanceJobFailed',
            expr: `${pushed(m.failed.name)} == 1`,
            for: '5m',
            severity: 'warning',
            summary: 'The last run of the maintenance job failed.',
            description: 'The last run of {{ $labels.job }} failed and no later run has succeeded for 5 minutes; its log has the error.',
          },
          {
            comment: "Tomorrow's daily partition exists iff the newest partition starts after now.",
            alert: 'EventPartitionTomorrowMissing',
            expr: `time() - ${pushed(m.newestPartition.name)} >= 0`,
            for: '15m',
            severity: 'critical',
            summary: 'The events partition for tomorrow does not exist yet.',
            description:
              'The newest daily events partition started {{ $value | humanizeDuration }} ago: events from the next UTC day will have no partition to go to.',
          },
          {
            comment: "EventPartitionTomorrowMissing's companion, for the same reason.",
            alert: 'EventPartitionNewestDayAbsent',
            expr: `absent(${pushed(m.newestPartition.name)})`,
            for: '1h',
            severity: 'warning',
            summary: 'The newest events partition is unknown, so a missing partition for tomorrow would go unnoticed.',
            description: `Prometheus has had no ${m.newestPartition.name} series of job {{ $labels.job }} for ${spoken('1h')}: the maintenance job never succeeded on this stage or the Pushgateway lost its metrics.`,
          },
        ],
      },
    ],
  };
}

// ---- The monitoring pipeline ----------------------------------------------------------------------------------

/**
 * Metrics of the third-party programs the rules read (Prometheus, Alertmanager, the exporters): their names are
 * theirs, listed here so that the end-to-end test can hold each to what the program really exports.
 */
export const THIRD_PARTY_METRICS = {
  ruleEvaluationFailures: 'prometheus_rule_evaluation_failures_total',
  ruleIterationsMissed: 'prometheus_rule_group_iterations_missed_total',
  alertmanagersDiscovered: 'prometheus_notifications_alertmanagers_discovered',
  notificationsFailed: 'alertmanager_notifications_failed_total',
  notifications: 'alertmanager_notifications_total',
  pgUp: 'pg_up',
  redisExporterUp: 'redis_up',
} as const;

/**
 * CloudNativePG's instance managers and the Barman Cloud plugin (job CNPG_JOB), in the names of the pinned operator
 * (1.29: docs/src/monitoring.md, config/manager/default-monitoring.yaml) and plugin (v0.14: web/docs/observability.md).
 * No operator runs here: the end-to-end test cannot scrape them, so alerts/test/promtool/database.test.yml and the
 * dashboard test prove every rule and panel on series of exactly these names and labels.
 */
export const CNPG_METRICS = {
  lastBackup: 'barman_cloud_cloudnative_pg_io_last_available_backup_timestamp',
  lastFailedBackup: 'barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp',
  archiveFailures: 'cnpg_pg_stat_archiver_failed_count',
  walArchiveStatus: 'cnpg_collector_pg_wal_archive_status',
  replicationLag: 'cnpg_pg_replication_lag',
  streamingReplicas: 'cnpg_pg_replication_streaming_replicas',
  syncReplicas: 'cnpg_collector_sync_replicas',
  postgresUp: 'cnpg_collector_up',
} as const;

/** Base backups run daily (every stack's event-stack:postgres.backup.schedule): 24 h period + margin. */
export const BACKUP_STALE_HOURS = 26;
/** WAL segments waiting for the archiver before it counts as lagging (each 16 MB; archive_timeout is 5 min). */
export const WAL_READY_MAX = 10;
/** Seconds a replica may trail the primary before a failover would lose that much acknowledged data. */
export const REPLICATION_LAG_MAX_S = 30;

/** A series of CloudNativePG's instance managers, and the labels that tell its clusters apart. */
const cnpg = (metric: string, ...matchers: string[]) => job(metric, CNPG_JOB, ...matchers);
const byCluster = 'namespace, cluster';

/** Base backups to the object store: too old, or the newest attempt failed. */
function databaseBackupAlerts(): AlertRule[] {
  const c = CNPG_METRICS;
  return [
    {
      comment: `Base backups run daily: 24 h period + ${BACKUP_STALE_HOURS - 24} h margin. A cluster that never completed one reports 0.`,
      alert: 'EventPostgresBackupStale',
      expr: `time() - max by (${byCluster}) (${cnpg(c.lastBackup)}) > ${BACKUP_STALE_HOURS} * 3600`,
      for: '10m',
      severity: 'warning',
      summary: 'The newest base backup of the database is older than its daily schedule allows.',
      description: `The newest available base backup of cluster {{ $labels.cluster }} is {{ $value | humanizeDuration }} old (expected at least every ${BACKUP_STALE_HOURS}h).`,
    },
    {
      comment: 'The newest backup attempt failed: its failure is later than the last backup that completed.',
      alert: 'EventPostgresBackupFailed',
      expr: `max by (${byCluster}) (${cnpg(c.lastFailedBackup)}) > max by (${byCluster}) (${cnpg(c.lastBackup)})`,
      for: '5m',
      severity: 'warning',
      summary: 'The last base backup of the database failed.',
      description:
        'The last base backup of cluster {{ $labels.cluster }} failed after the newest one that completed; the backup and plugin logs have the error.',
    },
  ];
}

/** WAL archiving, which point-in-time recovery depends on: failing, or falling behind. */
function databaseWalArchivingAlerts(): AlertRule[] {
  const c = CNPG_METRICS;
  return [
    {
      comment: 'Each failed attempt of archive_command counts; WAL that is not archived is not recoverable, and it fills pg_wal.',
      alert: 'EventPostgresWalArchivingFailing',
      expr: `sum by (${byCluster}, pod) (rate(${cnpg(c.archiveFailures)}[5m])) * 60 > 0`,
      for: '10m',
      severity: 'critical',
      summary: 'WAL archiving to the object store is failing: point-in-time recovery stops at the last archived segment.',
      description:
        'Instance {{ $labels.pod }} of cluster {{ $labels.cluster }} fails to archive WAL ({{ $value | humanize }} failed attempts a minute, for 10 minutes).',
    },
    {
      comment: 'Segments marked ready but not yet archived: the archiver falls behind (slow or unreachable object store).',
      alert: 'EventPostgresWalArchivingLagging',
      expr: `max by (${byCluster}, pod) (${cnpg(c.walArchiveStatus, 'value="ready"')}) > ${WAL_READY_MAX}`,
      for: '15m',
      severity: 'warning',
      summary: 'WAL segments are waiting to be archived: the recovery point falls behind.',
      description: `{{ $value }} WAL segments of instance {{ $labels.pod }} (cluster {{ $labels.cluster }}) wait for the archiver (more than ${WAL_READY_MAX} for 15 minutes).`,
    },
  ];
}

/** The instances and their replication: lag, instances down, synchronous replicas missing. */
function databaseInstanceAlerts(): AlertRule[] {
  const c = CNPG_METRICS;
  return [
    {
      alert: 'EventPostgresReplicationLagHigh',
      expr: `max by (${byCluster}, pod) (${cnpg(c.replicationLag)}) > ${REPLICATION_LAG_MAX_S}`,
      for: '5m',
      severity: 'warning',
      summary: 'A replica trails the primary: reads from replicas are stale, and a failover to it would lose recent writes.',
      description: `Replica {{ $labels.pod }} of cluster {{ $labels.cluster }} is {{ $value | humanizeDuration }} behind the primary (more than ${REPLICATION_LAG_MAX_S}s for 5 minutes).`,
    },
    {
      comment: 'An instance whose manager answers but whose PostgreSQL does not, or whose manager is not scraped at all.',
      alert: 'EventPostgresInstanceDown',
      expr: `max by (${byCluster}, pod) (${cnpg(c.postgresUp)}) == 0 or max by (namespace, pod) (${job('up', CNPG_JOB)}) == 0`,
      for: '5m',
      severity: 'critical',
      summary: 'An instance of the database is not ready: the cluster runs with fewer instances than desired.',
      description: 'Instance {{ $labels.pod }} of the database has not been ready for 5 minutes.',
    },
    {
      comment: [
        'From 3 instances a commit waits for one synchronous replica: with fewer streaming replicas than expected,',
        'the cluster runs below its desired instances and commits may stall.',
      ].join('\n'),
      alert: 'EventPostgresSynchronousReplicasMissing',
      expr: `max by (${byCluster}, pod) (${cnpg(c.streamingReplicas)}) < max by (${byCluster}, pod) (${cnpg(c.syncReplicas, 'value="expected"')})`,
      for: '5m',
      severity: 'critical',
      summary: 'Fewer replicas stream from the primary than its synchronous replication expects.',
      description:
        'Primary {{ $labels.pod }} of cluster {{ $labels.cluster }} has {{ $value }} streaming replicas, fewer than the synchronous replicas it expects.',
    },
  ];
}

function databaseRules(): RuleFile {
  return {
    name: 'database',
    header: [
      `The in-cluster PostgreSQL on CloudNativePG: backups, WAL archiving and replicas, from the instance managers (job "${CNPG_JOB}").`,
      'A stack with a managed database has none of these series, and these rules stay silent there.',
    ].join('\n'),
    groups: [{ name: 'event-database', rules: [...databaseBackupAlerts(), ...databaseWalArchivingAlerts(), ...databaseInstanceAlerts()] }],
  };
}

/** Share of an Alertmanager integration's notifications that may fail before the ticket. */
export const NOTIFICATION_FAILURE_RATIO = { threshold: 0.01, window: '5m', for: '5m' } as const;

/** The Watchdog and Prometheus' own rule evaluation and Alertmanager connection. */
function metaPrometheusAlerts(): AlertRule[] {
  const t = THIRD_PARTY_METRICS;
  return [
    {
      comment: 'Always firing. Routed to the `heartbeat` receiver only (alerts/alertmanager.yml), every 5 minutes.',
      alert: WATCHDOG_ALERT,
      expr: 'vector(1)',
      for: '0s',
      severity: 'none',
      summary: "Always firing, so that an external dead man's switch notices when alerts stop arriving.",
      description: 'The alerting pipeline works: Prometheus evaluates rules and Alertmanager delivers (value {{ $value }}).',
    },
    {
      comment: 'A failing rule cannot fire: every alert of its group may be silently broken.',
      alert: 'EventPrometheusRuleEvaluationFailures',
      expr: `increase(${job(t.ruleEvaluationFailures, PROMETHEUS_JOB)}[5m]) > 0`,
      for: '15m',
      severity: 'critical',
      summary: 'Prometheus fails to evaluate some alerting or recording rules.',
      description:
        '{{ $value | humanize }} evaluations of rule group {{ $labels.rule_group }} failed on {{ $labels.instance }} in the last 5 minutes: its alerts cannot fire.',
    },
    {
      alert: 'EventPrometheusRuleIterationsMissed',
      expr: `increase(${job(t.ruleIterationsMissed, PROMETHEUS_JOB)}[5m]) > 0`,
      for: '15m',
      severity: 'warning',
      summary: 'Prometheus skips rule evaluations because a rule group takes longer than its interval.',
      description:
        'Rule group {{ $labels.rule_group }} on {{ $labels.instance }} missed {{ $value | humanize }} evaluations in the last 5 minutes: its alerts fire late.',
    },
    {
      comment: 'Nothing reaches a receiver then, so this shows in the Prometheus UI; the missing heartbeat is what pages.',
      alert: 'EventPrometheusAlertmanagerDisconnected',
      expr: `max_over_time(${job(t.alertmanagersDiscovered, PROMETHEUS_JOB)}[5m]) < 1`,
      for: '10m',
      severity: 'warning',
      summary: 'Prometheus is not connected to any Alertmanager, so no alert reaches a receiver.',
      description: 'Prometheus {{ $labels.instance }} has discovered {{ $value }} Alertmanagers for 10 minutes.',
    },
  ];
}

/** Alertmanager's notifications, failing per integration. */
function metaNotificationAlerts(): AlertRule[] {
  const t = THIRD_PARTY_METRICS;
  const nf = NOTIFICATION_FAILURE_RATIO;
  const byIntegration = (metric: string) => `sum by (job, instance, integration) (rate(${job(metric, ALERTMANAGER_JOB)}[${nf.window}]))`;
  return [
    {
      comment: 'A warning on purpose: it travels through the ticket receiver, not through the pager it may be about.',
      alert: 'EventAlertmanagerNotificationsFailing',
      expr: [byIntegration(t.notificationsFailed), '/', byIntegration(t.notifications), `> ${nf.threshold}`, ''].join('\n'),
      for: nf.for,
      severity: 'warning',
      summary: 'Alertmanager fails to deliver notifications to a receiver.',
      description: `{{ $value | humanizePercentage }} of the {{ $labels.integration }} notifications of {{ $labels.instance }} failed over the last ${minutes(nf.window)} minutes: pages or tickets may be lost.`,
    },
  ];
}

/** The programs that feed other alerts and dashboards: the Pushgateway and the dependency exporters. */
function metaFeederAlerts(): AlertRule[] {
  const t = THIRD_PARTY_METRICS;
  return [
    {
      comment: 'Without the Pushgateway the maintenance metrics disappear and their alerts go blind (see the absent alerts).',
      alert: 'EventPushgatewayDown',
      expr: `${job('up', PUSHGATEWAY_JOB)} == 0`,
      for: '10m',
      severity: 'warning',
      summary: "Prometheus cannot scrape the Pushgateway, so the maintenance job's metrics are not collected.",
      description: 'Prometheus has failed to scrape {{ $labels.instance }} (job {{ $labels.job }}) for 10 minutes.',
    },
    {
      comment: [
        'The exporters are the only server-side view of PostgreSQL and Redis: without them the Dependencies',
        "dashboard is blind (the app's own postgres_up/redis_up alerts still work).",
      ].join('\n'),
      alert: 'EventDependencyExporterDown',
      expr: [
        `${job('up', POSTGRES_EXPORTER_JOB)} == 0`,
        `or ${job('up', REDIS_EXPORTER_JOB)} == 0`,
        `or ${job(t.pgUp, POSTGRES_EXPORTER_JOB)} == 0`,
        `or ${job(t.redisExporterUp, REDIS_EXPORTER_JOB)} == 0`,
        '',
      ].join('\n'),
      for: '10m',
      severity: 'warning',
      summary: 'An exporter delivers no statistics of its database, so the dependency dashboard is blind to it.',
      description: '{{ $labels.job }} ({{ $labels.instance }}) has been down or unable to reach its database for 10 minutes.',
    },
  ];
}

function metaRules(): RuleFile {
  return {
    name: 'meta',
    header: [
      `Meta-monitoring: the monitoring pipeline itself (Prometheus job "${PROMETHEUS_JOB}" scrapes itself, "${ALERTMANAGER_JOB}" and`,
      `"${PUSHGATEWAY_JOB}"). When Prometheus or Alertmanager break, no other alert arrives: the Watchdog's heartbeat stops,`,
      "and the external dead man's switch it feeds notices the silence.",
    ].join('\n'),
    groups: [{ name: 'event-stack-meta', rules: [...metaPrometheusAlerts(), ...metaNotificationAlerts(), ...metaFeederAlerts()] }],
  };
}

/** Every rule file, in the order of their names. */
export function ruleFiles(): RuleFile[] {
  return [databaseRules(), kubernetesRuleFile(), maintenanceRules(), metaRules(), serviceRules(), sloRules()];
}

const comment = (text: string) =>
  text
    .split('\n')
    .map((l) => ` ${l}`)
    .join('\n');

/** The YAML text of one rule file as Prometheus loads it, `runbook_url`s from `pattern`. */
export function renderRuleFile(file: RuleFile, pattern = RUNBOOK_URL_PATTERN): string {
  const doc = new YAML.Document({
    groups: file.groups.map((g) => ({
      name: g.name,
      rules: g.rules.map((r) =>
        isAlert(r)
          ? {
              alert: r.alert,
              expr: r.expr,
              for: r.for,
              labels: { severity: r.severity, ...r.labels },
              annotations: { summary: r.summary, description: r.description, runbook_url: runbookUrl(r.alert, pattern) },
            }
          : { record: r.record, ...(r.labels ? { labels: r.labels } : {}), expr: r.expr },
      ),
    })),
  });
  const groups = doc.get('groups') as YAML.YAMLSeq<YAML.YAMLMap>;
  file.groups.forEach((g, gi) => {
    const groupNode = groups.items[gi]!;
    if (g.comment) groupNode.commentBefore = comment(g.comment);
    const rules = groupNode.get('rules') as YAML.YAMLSeq<YAML.YAMLMap>;
    g.rules.forEach((r, ri) => {
      const node = rules.items[ri]!;
      if (r.comment) node.commentBefore = comment(r.comment);
      const labels = node.get('labels', true);
      if (!isAlert(r) && YAML.isMap(labels)) labels.flow = true;
    });
  });
  doc.commentBefore = comment(
    `Rendered from monitoring/src/rules.ts by \`make alerts\`; do not edit (make alerts-check fails while it is stale).\n${file.header}`,
  );
  return doc.toString({ lineWidth: 0, blockQuote: 'literal' });
}

/** Every rendered rule file by its file name (e.g. slo.yml). */
export function renderRuleFiles(pattern = RUNBOOK_URL_PATTERN): Record<string, string> {
  return Object.fromEntries(ruleFiles().map((f) => [`${f.name}.yml`, renderRuleFile(f, pattern)]));
}
