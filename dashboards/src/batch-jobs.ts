/** Batch jobs: the daily maintenance job as pushed to the Pushgateway. */
import { MAINTENANCE_METRICS as J, MAINTENANCE_STALE_HOURS } from '../../monitoring/src';
import { dashboard, JOB, rising, stat, timeseries } from './common';

export const batchJobs = () =>
  dashboard({
    uid: 'event-maintenance',
    title: 'Event stack / Batch jobs',
    description:
      'The daily maintenance job (from the Pushgateway): time since the last success, duration, partitions created and dropped, rows rolled up.',
    tags: ['batch'],
    instanceVariable: false,
    panels: [
      stat({
        title: 'Time since last success',
        description: `Age of ${J.lastSuccess.name}; EventMaintenanceJobStale fires above ${MAINTENANCE_STALE_HOURS}h.`,
        unit: 's',
        thresholds: rising((MAINTENANCE_STALE_HOURS - 1) * 3600, MAINTENANCE_STALE_HOURS * 3600),
        queries: [{ expr: `time() - max(${J.lastSuccess.name}{${JOB}})`, legend: 'since success' }],
      }),
      stat({
        title: 'Last run failed',
        description: `Whether the last run failed (${J.failed.name}).`,
        unit: 'bool_yes_no',
        thresholds: [
          { from: null, color: 'green' },
          { from: 1, color: 'red' },
        ],
        queries: [{ expr: `max(${J.failed.name}{${JOB}})`, legend: 'failed' }],
      }),
      stat({
        title: 'Tomorrow’s partition',
        description: 'How far ahead of now the newest daily events partition starts; negative means tomorrow’s partition is missing.',
        unit: 's',
        thresholds: [
          { from: null, color: 'red' },
          { from: 0, color: 'orange' },
          { from: 6 * 3600, color: 'green' },
        ],
        queries: [{ expr: `max(${J.newestPartition.name}{${JOB}}) - time()`, legend: 'ahead' }],
      }),
      stat({
        title: 'Time since last push',
        description: 'Age of the last push to the Pushgateway (successful or not).',
        unit: 's',
        thresholds: rising((MAINTENANCE_STALE_HOURS - 1) * 3600, MAINTENANCE_STALE_HOURS * 3600),
        queries: [{ expr: `time() - max(push_time_seconds{${JOB}})`, legend: 'since push' }],
      }),
      timeseries({
        title: 'Run duration',
        description: 'Duration of the last run, as seen over time.',
        unit: 's',
        queries: [{ expr: `max(max_over_time(${J.duration.name}{${JOB}}[$__rate_interval]))`, legend: 'duration' }],
      }),
      timeseries({
        title: 'Partitions created and dropped',
        description: 'Daily events partitions created ahead and dropped after retention by the last run.',
        unit: 'short',
        queries: [
          { expr: `max(${J.created.name}{${JOB}})`, legend: 'created' },
          { expr: `max(${J.dropped.name}{${JOB}})`, legend: 'dropped' },
        ],
      }),
      timeseries({
        title: 'Rows rolled up',
        description: 'Rows aggregated into the roll-up table by the last run.',
        unit: 'short',
        queries: [{ expr: `max(${J.rolledUp.name}{${JOB}})`, legend: 'rows' }],
      }),
      timeseries({
        title: 'Runs',
        description: 'Start time of the last run and of the last success (as Unix time), to see gaps in the schedule.',
        unit: 'dateTimeAsIso',
        queries: [
          { expr: `max(${J.lastRun.name}{${JOB}}) * 1000`, legend: 'last run' },
          { expr: `max(${J.lastSuccess.name}{${JOB}}) * 1000`, legend: 'last success' },
        ],
      }),
    ],
  });
