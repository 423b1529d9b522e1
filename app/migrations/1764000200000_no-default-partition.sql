-- Up Migration

-- Partition maintenance must never queue an exclusive lock on `events` ahead of ingest (a long reader
-- such as a backup would then stall every flush behind it). Creating a partition as a standalone table
-- and attaching it takes only SHARE UPDATE EXCLUSIVE on `events`; removing one with
-- DETACH PARTITION … CONCURRENTLY likewise. But with a default partition, ATTACH takes ACCESS
-- EXCLUSIVE on that default partition (which every read locks), and DETACH CONCURRENTLY is refused
-- altogether. So the default partition goes: the maintenance job keeps partitions from
-- EVENT_MAX_AGE_S in the past to PARTITIONS_AHEAD_DAYS ahead, which covers every accepted event time.
--
-- Dropping the default partition needs ACCESS EXCLUSIVE on `events` while the previous version still ingests.
-- Both locks are taken first and together: under the runner's lock_timeout (MIGRATE_LOCK_TIMEOUT_MS) the
-- migration either gets them at once or rolls back and is retried, so ingest queues behind it for at most
-- lock_timeout, never behind a long reader (a pg_dump) the migration would otherwise wait for.
LOCK TABLE events, events_default IN ACCESS EXCLUSIVE MODE;
DO $$
DECLARE
  d date;
BEGIN
  FOR d IN SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM events_default LOOP
    PERFORM ensure_events_partition(d); -- the old definition moves that day's rows out of the default
  END LOOP;
END;
$$;
-- contract: no release reads or writes events_default by name (rows reached it only through `events`).
DROP TABLE events_default;

-- Creates the daily partition for `day` (UTC) unless it exists: a standalone table with a CHECK that
-- proves its range (so ATTACH needs no scan), then attached. Returns true when it created the partition.
CREATE OR REPLACE FUNCTION ensure_events_partition(day date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  part text := format('events_%s', to_char(day, 'YYYYMMDD'));
  bounds text := format('events_%s_bounds', to_char(day, 'YYYYMMDD'));
  lo timestamptz := (day::timestamp AT TIME ZONE 'UTC');
  hi timestamptz := ((day + 1)::timestamp AT TIME ZONE 'UTC');
BEGIN
  IF to_regclass(part) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
  EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (ts >= %L AND ts < %L)', part, bounds, lo, hi);
  EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
  EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, bounds);
  RETURN true;
END;
$$;

-- Down Migration
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE OR REPLACE FUNCTION ensure_events_partition(day date) RETURNS boolean LANGUAGE plpgsql AS $$
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
