#!/bin/sh
# Dumps the database to $BACKUP_DIR/events-<UTC time>.dump (pg_dump custom format) and keeps the newest
# $BACKUP_KEEP dumps. Run by the postgres-backup CronJob in the postgres image; the tests run this very
# file against a real PostgreSQL. Connection: the libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.
set -eu
: "${BACKUP_DIR:?BACKUP_DIR must name the directory the dumps go to}"
: "${BACKUP_KEEP:?BACKUP_KEEP must say how many dumps to keep}"
case "$BACKUP_KEEP" in '' | *[!0-9]* | 0) echo "pg-backup: BACKUP_KEEP must be a whole number ≥ 1, got \"$BACKUP_KEEP\"" >&2; exit 2 ;; esac

stamp=$(date -u +%Y%m%dT%H%M%SZ)
final="$BACKUP_DIR/events-$stamp.dump"
# Written under a hidden name and renamed when complete and readable: a dump that failed half-way is
# never mistaken for a backup, and never counts towards BACKUP_KEEP.
partial="$BACKUP_DIR/.events-$stamp.dump.partial"
trap 'rm -f "$partial"' EXIT
echo "pg-backup: dumping ${PGDATABASE:-?} on ${PGHOST:-?} to $final"
pg_dump --format=custom --compress=6 --file="$partial"
pg_restore --list "$partial" >/dev/null
mv "$partial" "$final"
echo "pg-backup: wrote $final ($(wc -c <"$final") bytes)"

# Keep the newest BACKUP_KEEP (the names sort by time).
ls -1 "$BACKUP_DIR" | grep -E '^events-[0-9]{8}T[0-9]{6}Z\.dump$' | sort -r | tail -n +"$((BACKUP_KEEP + 1))" | while read -r old; do
  rm -f "$BACKUP_DIR/$old"
  echo "pg-backup: removed $old (keeping $BACKUP_KEEP)"
done
