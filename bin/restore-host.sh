#!/bin/bash
# Whole-host restore (docs/deploy.md, "Losing the MySQL host"): a fresh MySQL server gets the
# accounts of the host catalog, then every database of that catalog from its base backup plus its
# own binlog events up to the chosen time. Reads the store lib/host/octodb-backup.sh writes.
#
#   bin/restore-host.sh --from <directory|s3://bucket> --to <YYYY-MM-DDTHH:MM:SSZ> [--work <dir>] [--parallel <n>]
#
# The server restored into is the MySQL client's own login (~/.my.cnf) at OCTODB_DB_HOST:OCTODB_DB_PORT;
# it must hold no database but the server's own. Events at or after --to (UTC, whole seconds) are
# not applied. Exit: 0 restored, 2 bad arguments, 3 no backup at or before that time, 4 the server
# already holds databases, 1 a step failed.
set -euo pipefail
export HOME="${HOME:-/root}"
DB_HOST="${OCTODB_DB_HOST:-127.0.0.1}"
DB_PORT="${OCTODB_DB_PORT:-3306}"
SRC="" TO="" WORK="" PARALLEL=4
usage() { echo "usage: $0 --from <directory|s3://bucket> --to <YYYY-MM-DDTHH:MM:SSZ> [--work <dir>] [--parallel <n>]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --from) SRC="${2:-}"; shift 2 || usage ;;
    --to) TO="${2:-}"; shift 2 || usage ;;
    --work) WORK="${2:-}"; shift 2 || usage ;;
    --parallel) PARALLEL="${2:-}"; shift 2 || usage ;;
    *) usage ;;
  esac
done
[ -n "$SRC" ] || usage
[[ "$PARALLEL" =~ ^[1-9][0-9]?$ ]] || { echo "--parallel: 1 to 99" >&2; exit 2; }
[[ "$TO" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}[T\ ][0-9]{2}:[0-9]{2}:[0-9]{2}Z?$ ]] || { echo "--to: a UTC time such as 2026-12-06T13:45:00Z" >&2; exit 2; }
T_TEXT="${TO/T/ }"
TO_EPOCH="$(date -u -d "${T_TEXT%Z} UTC" +%s 2> /dev/null)" || { echo "--to: not a valid time: $TO" >&2; exit 2; }
[ "$TO_EPOCH" -le "$(date -u +%s)" ] || { echo "--to: $TO is in the future" >&2; exit 2; }
STAMP="$(date -u -d "@$TO_EPOCH" +%Y%m%dT%H%M%SZ)"
STOP="$(date -u -d "@$TO_EPOCH" '+%Y-%m-%d %H:%M:%S')"
SRC="${SRC%/}"
if [ -z "$WORK" ]; then WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT; fi
mkdir -p "$WORK/binlog"

# The restore's own writes stay out of the new server's binlogs: the new host's first shipping
# tick takes fresh base backups of everything instead.
sql() { mysql --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" --init-command='SET SESSION sql_log_bin = 0' "$@"; }
query() { sql --batch --raw --skip-column-names -e "$1"; }

# The store: names under a prefix, and a file's content.
list() {
  if [[ "$SRC" == s3://* ]]; then
    aws s3 ls "$SRC/$1/" | awk '{ print $NF }' | sed 's:/$::'
  elif [ -d "$SRC/$1" ]; then
    ls -1 "$SRC/$1"
  fi
}
fetch() { if [[ "$SRC" == s3://* ]]; then aws s3 cp --only-show-errors "$SRC/$1" -; else cat "$SRC/$1"; fi; }
# The newest <stamp>.sql.gz under a prefix stamped before --to (a stamp is the second the file was
# complete in: one stamped in the second of --to may hold later writes). Stamps sort as text.
newest() { list "$1" | { grep -E '^[0-9]{8}T[0-9]{6}Z\.sql\.gz$' || true; } | sort | awk -v to="$STAMP.sql.gz" '$0 < to' | tail -n 1; }

HELD="$(query "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')")"
[ "$HELD" = 0 ] || { echo "the server at $DB_HOST:$DB_PORT already holds $HELD database(s): restore into a fresh one" >&2; exit 4; }
CATALOG="$(newest host)"
[ -n "$CATALOG" ] || { echo "no host catalog before $TO in $SRC" >&2; exit 3; }
echo "host catalog host/$CATALOG"

# Binlogs as the store names them (server-numbered, so they sort in writing order).
BINLOGS="$(list binlog | grep -E '^[A-Za-z0-9_.-]+\.[0-9]{6,}$' | sort || true)"
# The new server's binlogs are numbered after the stored ones: a name never means two files.
if [ -n "$BINLOGS" ] && [ "$(query 'SELECT @@log_bin')" = 1 ]; then
  NEXT=$((10#$(tail -n 1 <<< "$BINLOGS" | sed 's/.*\.//') + 1))
  query "RESET BINARY LOGS AND GTIDS TO $NEXT" 2> /dev/null || query "RESET MASTER TO $NEXT"
fi

fetch "host/$CATALOG" | gunzip -c | { grep -v '^-- ' || true; } | sql --batch
echo "accounts restored"

# The plan, one line a database: name, charset, collation, base file, its binlog file and position.
# A base is read where it is (a directory store) or fetched once into the work directory.
PLAN="$WORK/plan"
: > "$PLAN"
while read -r _ _ db charset collation; do
  [[ "$db" =~ ^[A-Za-z0-9_]{1,64}$ && "$charset" =~ ^[a-z0-9_]{1,32}$ && "$collation" =~ ^[a-z0-9_]{1,64}$ ]] || { echo "catalog line not understood: $db" >&2; exit 1; }
  base="$(newest "base/$db")"
  if [ -z "$base" ]; then echo "NOT RESTORED $db: no base backup before $TO"; continue; fi
  if [[ "$SRC" == s3://* ]]; then path="$WORK/$db.sql.gz"; fetch "base/$db/$base" > "$path"; else path="$(realpath "$SRC/base/$db/$base")"; fi
  coords="$(gunzip -c "$path" | head -n 100 | grep -m 1 -oE "(MASTER|SOURCE)_LOG_FILE='[A-Za-z0-9_.-]+', *(MASTER|SOURCE)_LOG_POS=[0-9]+" || true)"
  [ -n "$coords" ] || { echo "base/$db/$base has no binlog coordinates" >&2; exit 1; }
  echo "$db $charset $collation $path $(sed -E "s/.*_LOG_FILE='([^']+)'.*_LOG_POS=([0-9]+)/\1 \2/" <<< "$coords")" >> "$PLAN"
done < <(fetch "host/$CATALOG" | gunzip -c | grep '^-- database: ')

# The binlogs from the oldest base's on, fetched once.
FIRST="$(awk '{ print $5 }' "$PLAN" | sort | head -n 1)"
for name in $BINLOGS; do
  [[ "$name" < "$FIRST" ]] && continue
  if [[ "$SRC" == s3://* ]]; then fetch "binlog/$name" > "$WORK/binlog/$name"; else ln -sf "$(realpath "$SRC/binlog/$name")" "$WORK/binlog/$name"; fi
done

# One database: its base, then its own events from the base's coordinates to --to.
restore_db() {
  local db="$1" charset="$2" collation="$3" path="$4" file="$5" pos="$6" files=() name
  query "CREATE DATABASE \`$db\` CHARACTER SET $charset COLLATE $collation"
  gunzip -c "$path" | sql --batch "$db"
  for name in $BINLOGS; do [[ "$name" < "$file" ]] || files+=("$WORK/binlog/$name"); done
  if [ "${#files[@]}" = 0 ]; then echo "restored $db from its base (no binlog stored after it)"; return 0; fi
  [ "${files[0]}" = "$WORK/binlog/$file" ] || { echo "binlog $file (where the base of $db starts) is not in the store" >&2; return 1; }
  # Row events are filtered by their table's database, statements by their default database:
  # another database's events are never applied here. mysqlbinlog reads --stop-datetime in its TZ.
  TZ=UTC mysqlbinlog --database="$db" --start-position="$pos" --stop-datetime="$STOP" "${files[@]}" | sql --batch
  echo "restored $db from its base and ${#files[@]} binlog file(s)"
}

FAILED=0
RUNNING=0
while read -r db charset collation path file pos; do
  if [ "$RUNNING" -ge "$PARALLEL" ]; then wait -n || FAILED=1; RUNNING=$((RUNNING - 1)); fi
  restore_db "$db" "$charset" "$collation" "$path" "$file" "$pos" &
  RUNNING=$((RUNNING + 1))
done < "$PLAN"
while [ "$RUNNING" -gt 0 ]; do wait -n || FAILED=1; RUNNING=$((RUNNING - 1)); done
[ "$FAILED" = 0 ] || { echo "restore to $TO failed: see the errors above" >&2; exit 1; }
echo "host restored to $TO: $(wc -l < "$PLAN") database(s)"
