#!/bin/bash
# OctoDB host backups (docs/deploy.md, "Losing the MySQL host"). Installed on the MySQL host by
# lib/host-backup.ts and run by systemd timers; run as is by the local tests.
#
#   octodb-backup.sh base   a base backup of every database
#   octodb-backup.sh ship   FLUSH BINARY LOGS and store every closed binlog not stored yet, the host
#                           catalog (databases, accounts), and a base backup of each database without
#                           one or named by a stored binlog's statements (see named_in)
#
# The store (the STORE LAYOUT shared with per-tenant restores), under OCTODB_BACKUP_DEST, a directory
# or s3://bucket[/prefix]:
#   base/<database>/<YYYYMMDDTHHMMSSZ>.sql.gz  one database (no CREATE DATABASE/USE: it loads into any name),
#                                             one consistent snapshot, its binlog coordinates in the header
#   binlog/<binlog file name>                  closed binlog files, as the server wrote them
#   host/<YYYYMMDDTHHMMSSZ>.sql.gz             `-- database: <name> <charset> <collation>` lines, then the
#                                             accounts as SQL (CREATE USER IF NOT EXISTS, GRANT)
# A stamp is the second in which the file was complete, so the state it holds is older than the
# next second: a restore to time T uses only files stamped before T.
#
# What was stored is remembered in OCTODB_BACKUP_STATE (a new host starts empty: its first tick takes
# a base of everything). The MySQL login is the client's own (~/.my.cnf on the host), at
# OCTODB_DB_HOST:OCTODB_DB_PORT. With OCTODB_METRICS_REGION set, each success is counted in CloudWatch
# (the alarms fire when the count stops).
set -euo pipefail
export HOME="${HOME:-/root}"
DEST="${OCTODB_BACKUP_DEST:?OCTODB_BACKUP_DEST: a directory or s3://bucket}"
STATE="${OCTODB_BACKUP_STATE:-/var/lib/octodb-backup}"
DB_HOST="${OCTODB_DB_HOST:-127.0.0.1}"
DB_PORT="${OCTODB_DB_PORT:-3306}"
DEST="${DEST%/}"
mkdir -p "$STATE"
touch "$STATE/shipped" "$STATE/based" "$STATE/named"
# One run at a time (a slow base must not overlap the next one, nor a ship tick its own dumps).
exec 9> "$STATE/lock"
flock 9

sql() { mysql --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" --batch --raw --skip-column-names -e "$1"; }
stamp() { date -u +%Y%m%dT%H%M%SZ; }

# Stores stdin as <key>; a reader never sees half a file under its real name (an S3 object appears
# once its upload is complete; a file is renamed into place).
store() {
  local key="$1" tmp
  if [[ "$DEST" == s3://* ]]; then
    aws s3 cp --only-show-errors - "$DEST/$key"
  else
    mkdir -p "$(dirname "$DEST/$key")"
    tmp="$(dirname "$DEST/$key")/.$(basename "$key").$$"
    cat > "$tmp"
    mv "$tmp" "$DEST/$key"
  fi
}

# The server's own databases and passing workspaces (Skeema's, OctoDB's scratch schemas) are never backed up.
KEPT="schema_name NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
  AND schema_name NOT LIKE '\\_skeema\\_tmp%' AND schema_name NOT LIKE '\\_octodb\\_scratch\\_%'"
databases() {
  sql "SELECT schema_name FROM information_schema.schemata WHERE $KEPT ORDER BY schema_name"
}

# mysqldump of MySQL 8.0.26+ says --source-data; MariaDB's and older ones only --master-data.
# MySQL's would also set the server's GTID_PURGED from each file (with gtid_mode on), which fails
# on the second database a restore loads: its GTID_PURGED line is left out.
DUMP_HELP="$(mysqldump --help 2> /dev/null || true)"
if grep -q -- '--source-data' <<< "$DUMP_HELP"; then COORDS=(--source-data=2); else COORDS=(--master-data=2); fi
if grep -q -- '--set-gtid-purged' <<< "$DUMP_HELP"; then COORDS+=(--set-gtid-purged=OFF); fi

# A base of one database; $STATE/based lists the databases that have one.
base_one() {
  local db="$1" tmp
  [[ "$db" =~ ^[A-Za-z0-9_]{1,64}$ ]] || { echo "skipping database with an unexpected name: $db" >&2; return 0; }
  tmp="$(mktemp)"
  # --single-transaction: one consistent snapshot without locking the tenant's tables;
  # no --databases, so the file holds no CREATE DATABASE/USE and loads into any database name.
  mysqldump --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" --single-transaction "${COORDS[@]}" --routines --triggers \
    --hex-blob --default-character-set=utf8mb4 "$db" | gzip -c > "$tmp"
  store "base/$db/$(stamp).sql.gz" < "$tmp"
  rm -f "$tmp"
  grep -qxF "$db" "$STATE/based" || echo "$db" >> "$STATE/based"
}

# Bases of every database (all=1), or of those without one and those named in $STATE/named.
bases() {
  local all="$1" db
  for db in $(databases); do
    if [ "$all" = 1 ] || ! grep -qxF "$db" "$STATE/based" || grep -qxF "$db" "$STATE/named"; then base_one "$db"; fi
  done
  : > "$STATE/named"
}

# The number of a binlog file name (binlog.000123 -> 123).
number() { echo $((10#${1##*.})); }

ship_binlogs() {
  sql 'FLUSH BINARY LOGS'
  local dir names last name stored
  dir="$(dirname "$(sql 'SELECT @@log_bin_basename')")"
  names="$(sql 'SHOW BINARY LOGS' | cut -f1)"
  last="$(tail -n 1 <<< "$names")"
  # A host's first shipment: a server whose binlogs are numbered no further than the stored ones
  # is another server (a fresh one numbers from 1): its files would overwrite the lost host's, and
  # its empty catalog would be the newest. bin/restore-host.sh numbers a restored server past them.
  if [ ! -s "$STATE/shipped" ]; then
    if [[ "$DEST" == s3://* ]]; then stored="$(aws s3 ls "$DEST/binlog/" | awk '{ print $NF }')"; else stored="$(ls -1 "$DEST/binlog" 2> /dev/null || true)"; fi
    stored="$(grep -E "^${last%.*}\.[0-9]+$" <<< "$stored" | sort | tail -n 1 || true)"
    if [ -n "$stored" ] && [ "$(number "$stored")" -ge "$(number "$last")" ]; then
      echo "not shipping: the store already holds $stored, and this server writes $last: restore it from the store first (bin/restore-host.sh), or number its binlogs past the store's (RESET BINARY LOGS AND GTIDS TO $(($(number "$stored") + 1)))" >&2
      exit 3
    fi
  fi
  # Every file but the one the server writes to now is closed and will not change.
  for name in $names; do
    [ "$name" = "$last" ] && continue
    grep -qxF "$name" "$STATE/shipped" && continue
    store "binlog/$name" < "$dir/$name"
    named_in "$dir/$name" >> "$STATE/named"
    echo "$name" >> "$STATE/shipped"
  done
}

# The databases a binlog's statements name as `db`.`table`. A restore replays each database's own
# events: row events by their table's database, statements by their session's default database.
# A statement reaching into a database by name (a RENAME TABLE into a table-backup schema, run with
# no default database) is not among that database's events, so it gets a new base at this tick.
# Row data is base64 in this text, so what is found is statements' own: any `name`. or name. (a word
# that is no database costs nothing, only databases are backed up).
named_in() {
  mysqlbinlog "$1" | grep -v '^#' | grep -oE '`?[A-Za-z0-9_]{1,64}`?\.' | tr -d '`.' | sort -u || true
}

# The databases (with their defaults) and the accounts that are not the server's own: what a new
# server needs besides each database's base and binlogs. The admin account running this is left
# out: a new host makes it from the current secret (an old password must not come back with it).
host_catalog() {
  sql "SELECT CONCAT('-- database: ', schema_name, ' ', default_character_set_name, ' ', default_collation_name)
       FROM information_schema.schemata WHERE $KEPT ORDER BY schema_name"
  # MySQL 8 prints a password hash in hex only when asked (the raw bytes would not survive a file).
  local hex='SET SESSION print_identified_with_as_hex = ON;'
  sql "$hex" 2> /dev/null || hex=''
  local user host
  sql "SELECT user, host FROM mysql.user
       WHERE user NOT IN ('', 'root', 'mariadb.sys', 'PUBLIC', SUBSTRING_INDEX(CURRENT_USER(), '@', 1))
         AND user NOT LIKE 'mysql.%' ORDER BY user, host" |
    while IFS=$'\t' read -r user host; do
      [[ "$user" =~ ^[A-Za-z0-9_]{1,80}$ && "$host" =~ ^[A-Za-z0-9_.%:-]{1,255}$ ]] || { echo "skipping account $user@$host" >&2; continue; }
      sql "$hex SHOW CREATE USER '$user'@'$host'" | sed 's/^CREATE USER /CREATE USER IF NOT EXISTS /; s/$/;/'
      sql "SHOW GRANTS FOR '$user'@'$host'" | sed 's/$/;/'
    done
}

count() {
  [ -n "${OCTODB_METRICS_REGION:-}" ] || return 0
  aws cloudwatch put-metric-data --region "$OCTODB_METRICS_REGION" --namespace OctoDB --metric-name "$1" \
    --dimensions "HostId=${OCTODB_HOST_ID:-host}" --value 1 --unit Count
}

case "${1:-}" in
  base)
    bases 1
    count BaseBackupsSucceeded
    ;;
  ship)
    ship_binlogs
    bases 0
    catalog="$(host_catalog)"
    gzip -c <<< "$catalog" | store "host/$(stamp).sql.gz"
    count BinlogShipsSucceeded
    ;;
  *)
    echo "usage: $0 base|ship" >&2
    exit 2
    ;;
esac
