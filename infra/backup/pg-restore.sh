#!/bin/sh
# Restores one dump written by pg-backup.sh into the database named by the libpq variables (PGHOST,
# PGPORT, PGUSER, PGPASSWORD, PGDATABASE), which must exist and be empty. Ownership and grants are not
# restored: the objects belong to the restoring user (the owner), and the next migration run gives the
# service's role its grants again. Usage: pg-restore.sh <file.dump>
set -eu
file="${1:?usage: pg-restore.sh <file.dump>}"
[ -r "$file" ] || { echo "pg-restore: cannot read $file" >&2; exit 2; }
tables=$(psql -XAtc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
if [ "$tables" != 0 ]; then
  echo "pg-restore: database ${PGDATABASE:-?} is not empty ($tables tables): restore into a new, empty database" >&2
  exit 2
fi
echo "pg-restore: restoring $file into ${PGDATABASE:-?} on ${PGHOST:-?}"
pg_restore --no-owner --no-privileges --single-transaction --exit-on-error --dbname="${PGDATABASE:?PGDATABASE must name the target database}" "$file"
echo "pg-restore: done; now run the migration (make migrate, or the migration Job) to restore the service role's grants"
