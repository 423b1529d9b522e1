-- Up Migration

-- Events, partitioned by day on event time. The unique key includes the partition column
-- (PostgreSQL requires it) and doubles as the index behind per-sensor keyset reads.
CREATE TABLE events (
  sensor_id    uuid        NOT NULL,
  event_id     uuid        NOT NULL,
  type         text        NOT NULL,
  ts           timestamptz NOT NULL,
  received_at  timestamptz NOT NULL,
  payload      jsonb       NOT NULL,
  CONSTRAINT events_sensor_ts_event_key UNIQUE (sensor_id, ts, event_id)
) PARTITION BY RANGE (ts);

CREATE INDEX events_ts_brin ON events USING brin (ts);

-- Rows outside every daily partition land here, so an insert never fails for a missing partition.
-- The maintenance job moves them into their day's partition when it creates it.
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- Dedupe on (sensor, event id) alone: events sent without `ts` (or corrected for clock skew) get a
-- different time on every retry, so the unique key above cannot catch their retries. Kept for
-- DEDUPE_WINDOW_DAYS by the maintenance job.
CREATE TABLE event_ids (
  sensor_id    uuid        NOT NULL,
  event_id     uuid        NOT NULL,
  received_at  timestamptz NOT NULL,
  PRIMARY KEY (sensor_id, event_id)
);
CREATE INDEX event_ids_received_at ON event_ids USING brin (received_at);

-- Daily per-sensor counts, recomputed by the maintenance job.
CREATE TABLE event_daily_counts (
  sensor_id  uuid   NOT NULL,
  day        date   NOT NULL,
  events     bigint NOT NULL,
  PRIMARY KEY (sensor_id, day)
);

-- Creates the daily partition for `day` (UTC) unless it exists, first moving any rows of that day
-- out of the default partition. Returns true when it created the partition.
CREATE FUNCTION ensure_events_partition(day date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  part text := format('events_%s', to_char(day, 'YYYYMMDD'));
  lo timestamptz := (day::timestamp AT TIME ZONE 'UTC');
  hi timestamptz := ((day + 1)::timestamp AT TIME ZONE 'UTC');
BEGIN
  IF to_regclass(part) IS NOT NULL THEN
    RETURN false;
  END IF;
  CREATE TEMP TABLE IF NOT EXISTS events_moving (LIKE events) ON COMMIT DROP;
  WITH moved AS (DELETE FROM events_default WHERE ts >= lo AND ts < hi RETURNING *)
    INSERT INTO events_moving SELECT * FROM moved;
  EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
  INSERT INTO events SELECT * FROM events_moving;
  TRUNCATE events_moving;
  RETURN true;
END;
$$;

-- Partitions for the accepted window around the migration date; the job keeps them ahead.
SELECT ensure_events_partition(d::date)
FROM generate_series((now() AT TIME ZONE 'UTC')::date - 8, (now() AT TIME ZONE 'UTC')::date + 7, interval '1 day') AS d;

-- Down Migration
DROP FUNCTION ensure_events_partition(date);
DROP TABLE event_daily_counts;
DROP TABLE event_ids;
DROP TABLE events;
