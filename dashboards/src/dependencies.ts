/**
 * Dependencies and the monitoring pipeline (USE from the server side): PostgreSQL from prometheus-postgres-exporter,
 * Redis from prometheus-redis-exporter, and Prometheus, Alertmanager and the Pushgateway watching themselves.
 * Only metrics the Debian exporters (postgres-exporter 0.11, redis-exporter 1.45) expose by default.
 */
import {
  ALERTMANAGER_JOB,
  BACKUP_STALE_HOURS,
  CNPG_JOB,
  CNPG_METRICS,
  POSTGRES_EXPORTER_JOB,
  PROMETHEUS_JOB,
  PUSHGATEWAY_JOB,
  REDIS_EXPORTER_JOB,
  REPLICATION_LAG_MAX_S,
  WAL_READY_MAX,
} from '../../monitoring/src';
import { dashboard, rising, stat, timeseries, UP } from './common';

/** The databases chosen in $datname; template databases are never interesting. */
const PG_DB = `job="${POSTGRES_EXPORTER_JOB}",datname=~"$datname",datname!~"template.*"`;
const PG = `job="${POSTGRES_EXPORTER_JOB}"`;
const REDIS = `job="${REDIS_EXPORTER_JOB}"`;
/** CloudNativePG's instance managers (in-cluster database only; a managed database shows no data here). */
const CNPG = `job="${CNPG_JOB}"`;

/** The headline: both exporters connected, PostgreSQL connections used and its longest transaction. */
const connectionStats = () => [
  stat({
    title: 'PostgreSQL exporter connected',
    description: 'pg_up: the exporter reached PostgreSQL at its last scrape (0: the server or the exporter is down).',
    unit: 'bool_yes_no',
    thresholds: UP,
    queries: [{ expr: `min(pg_up{${PG}})`, legend: 'postgres' }],
  }),
  stat({
    title: 'Redis exporter connected',
    description: 'redis_up: the exporter reached Redis at its last scrape.',
    unit: 'bool_yes_no',
    thresholds: UP,
    queries: [{ expr: `min(redis_up{${REDIS}})`, legend: 'redis' }],
  }),
  stat({
    title: 'PostgreSQL connections used',
    description: 'Server connections in use (every database, every state) as a share of max_connections.',
    unit: 'percentunit',
    thresholds: rising(0.75, 0.9),
    queries: [{ expr: `sum(pg_stat_activity_count{${PG}}) / max(pg_settings_max_connections{${PG}})`, legend: 'used' }],
  }),
  stat({
    title: 'Longest open transaction',
    description: 'Age of the oldest open transaction in the chosen databases: long ones hold locks and stop vacuum.',
    unit: 's',
    thresholds: rising(60, 300),
    queries: [{ expr: `max(pg_stat_activity_max_tx_duration{${PG_DB}})`, legend: 'oldest' }],
  }),
];

/** PostgreSQL over time: connections, locks, transactions, deadlocks, cache hits, size. */
const postgresPanels = () => [
  timeseries({
    title: 'PostgreSQL connections vs max_connections',
    description: 'Server connections by state in the chosen databases, and the server’s max_connections.',
    unit: 'short',
    min: 0,
    queries: [
      { expr: `sum by (state) (pg_stat_activity_count{${PG_DB}})`, legend: '{{state}}' },
      { expr: `max(pg_settings_max_connections{${PG}})`, legend: 'max_connections' },
    ],
  }),
  timeseries({
    title: 'PostgreSQL locks',
    description: 'Locks held or awaited, by mode, in the chosen databases: exclusive locks stall the ingest flushes.',
    unit: 'short',
    min: 0,
    queries: [{ expr: `sum by (mode) (pg_locks_count{${PG_DB}})`, legend: '{{mode}}' }],
  }),
  timeseries({
    title: 'PostgreSQL transactions',
    description: 'Commits and rollbacks per second in the chosen databases; rollbacks are failed flushes or client errors.',
    unit: 'ops',
    min: 0,
    queries: [
      { expr: `sum(rate(pg_stat_database_xact_commit{${PG_DB}}[$__rate_interval]))`, legend: 'commit' },
      { expr: `sum(rate(pg_stat_database_xact_rollback{${PG_DB}}[$__rate_interval]))`, legend: 'rollback' },
    ],
  }),
  timeseries({
    title: 'PostgreSQL deadlocks',
    description: 'Deadlocks detected per database in each interval: PostgreSQL aborted one transaction of each.',
    unit: 'short',
    min: 0,
    queries: [{ expr: `sum by (datname) (increase(pg_stat_database_deadlocks{${PG_DB}}[$__rate_interval]))`, legend: '{{datname}}' }],
  }),
  timeseries({
    title: 'PostgreSQL cache hit ratio',
    description:
      'Share of block reads served from shared buffers in the chosen databases; well below 99% means the working set outgrew memory.',
    unit: 'percentunit',
    max: 1,
    queries: [
      {
        expr: `sum(rate(pg_stat_database_blks_hit{${PG_DB}}[$__rate_interval])) / (sum(rate(pg_stat_database_blks_hit{${PG_DB}}[$__rate_interval])) + sum(rate(pg_stat_database_blks_read{${PG_DB}}[$__rate_interval])))`,
        legend: 'hit ratio',
      },
    ],
  }),
  timeseries({
    title: 'PostgreSQL database size',
    description: 'On-disk size of each chosen database (partitions and indexes included).',
    unit: 'bytes',
    min: 0,
    queries: [{ expr: `pg_database_size_bytes{${PG_DB}}`, legend: '{{datname}}' }],
  }),
];

/** Redis over time: memory, evictions, clients, commands, keyspace hits. */
const redisPanels = () => [
  timeseries({
    title: 'Redis memory vs maxmemory',
    description: 'Memory Redis uses, and its maxmemory (0: no limit set, Redis grows until the container limit kills it).',
    unit: 'bytes',
    min: 0,
    queries: [
      { expr: `max(redis_memory_used_bytes{${REDIS}})`, legend: 'used' },
      { expr: `max(redis_memory_max_bytes{${REDIS}})`, legend: 'maxmemory' },
    ],
  }),
  timeseries({
    title: 'Redis evictions',
    description: 'Keys evicted per second to stay under maxmemory: evicted rate-limit counters reset sensors’ limits.',
    unit: 'ops',
    min: 0,
    queries: [{ expr: `sum(rate(redis_evicted_keys_total{${REDIS}}[$__rate_interval]))`, legend: 'evicted' }],
  }),
  timeseries({
    title: 'Redis clients',
    description: 'Connected clients (every service instance holds one or a few) and the maxclients limit.',
    unit: 'short',
    min: 0,
    queries: [
      { expr: `max(redis_connected_clients{${REDIS}})`, legend: 'connected' },
      { expr: `max(redis_config_maxclients{${REDIS}})`, legend: 'maxclients' },
    ],
  }),
  timeseries({
    title: 'Redis commands',
    description: 'Commands processed per second (the rate limiter’s scripts and counters).',
    unit: 'ops',
    min: 0,
    queries: [{ expr: `sum(rate(redis_commands_processed_total{${REDIS}}[$__rate_interval]))`, legend: 'commands' }],
  }),
  timeseries({
    title: 'Redis keyspace hit ratio',
    description:
      'Share of key lookups that found the key; the rate limiter creates its counters on first use, so misses are normal at a window’s start.',
    unit: 'percentunit',
    max: 1,
    queries: [
      {
        expr: `sum(rate(redis_keyspace_hits_total{${REDIS}}[$__rate_interval])) / (sum(rate(redis_keyspace_hits_total{${REDIS}}[$__rate_interval])) + sum(rate(redis_keyspace_misses_total{${REDIS}}[$__rate_interval])))`,
        legend: 'hit ratio',
      },
    ],
  }),
];

/** The in-cluster database (CloudNativePG): backups, replication lag, WAL archiving. */
const cloudNativePgPanels = () => [
  stat({
    title: 'Last base backup (CloudNativePG)',
    description: `Age of the newest base backup the Barman Cloud plugin reports, per cluster (EventPostgresBackupStale past ${BACKUP_STALE_HOURS}h).`,
    unit: 's',
    thresholds: rising(24 * 3600, BACKUP_STALE_HOURS * 3600),
    queries: [{ expr: `time() - max by (cluster) (${CNPG_METRICS.lastBackup}{${CNPG}})`, legend: '{{cluster}}' }],
  }),
  timeseries({
    title: 'Replication lag (CloudNativePG)',
    description: `How far each replica replays behind the primary (EventPostgresReplicationLagHigh past ${REPLICATION_LAG_MAX_S}s): reads from replicas are this stale.`,
    unit: 's',
    min: 0,
    queries: [{ expr: `max by (pod) (${CNPG_METRICS.replicationLag}{${CNPG}})`, legend: '{{pod}}' }],
  }),
  timeseries({
    title: 'WAL archive (CloudNativePG)',
    description: `WAL segments waiting for the archiver per instance (EventPostgresWalArchivingLagging past ${WAL_READY_MAX}), and failed archive attempts per second (any: EventPostgresWalArchivingFailing).`,
    unit: 'short',
    min: 0,
    queries: [
      { expr: `max by (pod) (${CNPG_METRICS.walArchiveStatus}{${CNPG},value="ready"})`, legend: '{{pod}} waiting' },
      { expr: `sum by (pod) (rate(${CNPG_METRICS.archiveFailures}{${CNPG}}[$__rate_interval]))`, legend: '{{pod}} failed/s' },
    ],
  }),
];

/** Prometheus, Alertmanager and the Pushgateway watching themselves. */
const monitoringPipelinePanels = () => [
  timeseries({
    title: 'Scrape targets up',
    description:
      'Targets Prometheus scrapes successfully, per job: the service, the exporters, the Pushgateway, Alertmanager and Prometheus itself.',
    unit: 'short',
    min: 0,
    queries: [{ expr: 'sum by (job) (up)', legend: '{{job}}' }],
  }),
  timeseries({
    title: 'Rule evaluations',
    description: 'Rule evaluations per second, and the failed and missed ones (any failure: an alert may not fire).',
    unit: 'ops',
    min: 0,
    queries: [
      { expr: `sum(rate(prometheus_rule_evaluations_total{job="${PROMETHEUS_JOB}"}[$__rate_interval]))`, legend: 'evaluated' },
      { expr: `sum(rate(prometheus_rule_evaluation_failures_total{job="${PROMETHEUS_JOB}"}[$__rate_interval]))`, legend: 'failed' },
      { expr: `sum(rate(prometheus_rule_group_iterations_missed_total{job="${PROMETHEUS_JOB}"}[$__rate_interval]))`, legend: 'missed' },
    ],
  }),
  timeseries({
    title: 'Notifications',
    description: 'Notifications Alertmanager sent and failed to send per second, and the Alertmanagers Prometheus is connected to.',
    unit: 'short',
    min: 0,
    queries: [
      { expr: `sum(rate(alertmanager_notifications_total{job="${ALERTMANAGER_JOB}"}[$__rate_interval]))`, legend: 'sent/s' },
      { expr: `sum(rate(alertmanager_notifications_failed_total{job="${ALERTMANAGER_JOB}"}[$__rate_interval]))`, legend: 'failed/s' },
      { expr: `max(prometheus_notifications_alertmanagers_discovered{job="${PROMETHEUS_JOB}"})`, legend: 'Alertmanagers connected' },
    ],
  }),
  timeseries({
    title: 'Pushgateway',
    description: 'Push groups the Pushgateway holds (time of the last push per group): empty after a restart until the next push.',
    unit: 'dateTimeAsIso',
    queries: [{ expr: `max by (job) (push_time_seconds{job!="${PUSHGATEWAY_JOB}"}) * 1000`, legend: '{{job}}' }],
  }),
];

export const dependencies = () =>
  dashboard({
    uid: 'event-stack-dependencies',
    title: 'Event stack / Dependencies and monitoring',
    description:
      'PostgreSQL and Redis as their exporters see them (connections, locks, deadlocks, transactions, cache, size; memory, evictions, clients, ops), and the health of Prometheus, Alertmanager and the Pushgateway.',
    tags: ['use', 'dependencies'],
    instanceVariable: false,
    labelVariables: [{ name: 'datname', label: 'Database', metric: `pg_database_size_bytes{${PG}}` }],
    panels: [...connectionStats(), ...postgresPanels(), ...redisPanels(), ...cloudNativePgPanels(), ...monitoringPipelinePanels()],
  });
