import { randomBytes } from 'node:crypto';
import { must, MYSQL_CLIENT, PRELUDE, tenantUserLines } from './host-scripts.ts';
import { SCHEMA_NAME, USER_NAME } from './patterns.ts';

/**
 * Host scripts of per-tenant point-in-time restore. The backup store (the STORE LAYOUT shared with
 * the whole-host backups) is a directory on this machine or an S3 URL on AWS:
 *   base/<database>/<YYYYMMDDTHHMMSSZ>.sql.gz  one database, one consistent snapshot (mysqldump
 *                                             --single-transaction), binlog coordinates in its header
 * A restore loads a base backup into the target and replays the source database's binlog events
 * from the base's coordinates up to the chosen second, read from the live server
 * (--read-from-remote-server), filtered to that database and renamed to the target.
 */

/** A local absolute directory, or s3://bucket[/prefix]: set by the operator, checked before it enters a script. */
export const BACKUP_ROOT = /^(\/[A-Za-z0-9._/-]{0,500}|s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9._/-]{0,400})?)$/;
const STAMP = /^\d{8}T\d{6}Z$/;
/** Prints `<binlog file> <position>` from a dump's header (MariaDB's CHANGE MASTER, MySQL 8's CHANGE REPLICATION SOURCE comment). */
const READ_COORDS = `sed -nE "s/^-- CHANGE (MASTER|REPLICATION SOURCE) TO (MASTER|SOURCE)_LOG_FILE='([A-Za-z0-9._-]+)', *(MASTER|SOURCE)_LOG_POS=([0-9]+).*/\\3 \\5/p" | head -n 1`;
const DATETIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
/** What baseBackupKey makes: a key checked against it before it enters a script. */
const BASE_KEY = /^base\/[A-Za-z0-9_]{1,64}\/\d{8}T\d{6}Z\.sql\.gz$/;

/** A base backup's key under the store's root. */
export const baseBackupKey = (database: string, stamp: string): string => `base/${must(SCHEMA_NAME, database, 'database name')}/${must(STAMP, stamp, 'backup stamp')}.sql.gz`;
/** YYYYMMDDTHHMMSSZ (UTC) of a time, to the second. */
export const backupStamp = (at: Date): string => at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');

/** Exit codes beside a failing command's. */
export const PitrExit = { NoCoordinates: 3, BinlogGone: 4, TargetExists: 5 } as const;

/** Copies to/from the store: `aws s3 cp` for an S3 root (the bucket encrypts), files otherwise. */
function storeFunctions(root: string): string {
  const r = must(BACKUP_ROOT, root.replace(/\/+$/, ''), 'backup root');
  return `ROOT='${r}'
put() { if [[ "$ROOT" == s3://* ]]; then aws s3 cp --only-show-errors "$1" "$ROOT/$2"; else mkdir -p "$(dirname "$ROOT/$2")" && chmod 700 "$ROOT" && mv "$1" "$ROOT/$2"; fi; }
get() { if [[ "$ROOT" == s3://* ]]; then aws s3 cp --only-show-errors "$ROOT/$1" "$2"; else cp "$ROOT/$1" "$2"; fi; }
`;
}

/** The marker line a base backup prints with its coordinates: `<marker> <binlog file> <position> <bytes>`. */
export const newBaseMarker = (nonce = randomBytes(12).toString('hex')): string => `__OCTODB_BASE_${nonce}__`;

/**
 * Dumps one database (a consistent snapshot without locking the tenant's tables: --single-transaction;
 * the binlog coordinates of that snapshot in a header comment), compresses it and puts it into the
 * store. MariaDB's client writes `CHANGE MASTER TO MASTER_LOG_FILE=…`, MySQL 8's `CHANGE REPLICATION
 * SOURCE TO SOURCE_LOG_FILE=…`: both are read.
 */
export function buildBaseBackupScript(input: { database: string; stamp: string; root: string; marker: string }): string {
  const key = baseBackupKey(input.database, input.stamp);
  const db = must(SCHEMA_NAME, input.database, 'database name');
  return `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
${storeFunctions(input.root)}if command -v mariadb-dump >/dev/null; then DUMP=(mariadb-dump --master-data=2); else DUMP=(mysqldump --source-data=2 --set-gtid-purged=OFF); fi
"\${DUMP[@]}" --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" --single-transaction --quick --skip-lock-tables --triggers '${db}' > "$WORK/base.sql"
COORDS="$(head -n 80 "$WORK/base.sql" | ${READ_COORDS})"
[ -n "$COORDS" ] || { echo "the dump has no binlog coordinates: binary logging is off on this server" >&2; exit ${PitrExit.NoCoordinates}; }
gzip -6 "$WORK/base.sql"
SIZE="$(wc -c < "$WORK/base.sql.gz")"
put "$WORK/base.sql.gz" '${key}'
echo "${input.marker} $COORDS $SIZE"
`;
}

/** The coordinates and size a base backup script printed after its marker; undefined when it printed none. */
export function parseBaseBackup(stdout: string, marker: string): { binlogFile: string; binlogPos: number; sizeBytes: number } | undefined {
  const line = stdout.split('\n').find((l) => l.startsWith(`${marker} `));
  const m = line && /^\S+ ([A-Za-z0-9._-]{1,200}) (\d{1,19}) (\d{1,19})$/.exec(line.trim());
  return m ? { binlogFile: m[1]!, binlogPos: Number(m[2]), sizeBytes: Number(m[3]) } : undefined;
}

export interface RestoreScriptInput {
  /** The database whose base backup and binlog events are replayed. */
  source: string;
  /** The schema they are written to: a new database, or a scratch one that an in-place restore swaps in. */
  target: string;
  /** The base backup: its own header says where in the binlog the replay starts. */
  baseKey: string;
  /** Replay stops at the first event at or after this UTC second (YYYY-MM-DD HH:MM:SS). */
  stopDatetime: string;
  root: string;
  /** A new database: its user, allowed its rows only (as provisioning makes it). */
  user?: string;
  /** In place: swap the target's tables into `source` (one RENAME, atomic), the old ones out and dropped. */
  swapInto?: string;
}

/**
 * Creates the target, loads the base backup into it, replays the source's binlog events from the
 * coordinates in the base's own header (the file, not a record of it, is the truth: whatever took
 * it) to the stop second, renamed to the target. MariaDB's binlog tool prints each
 * event's GTID sequence number: replayed as they are they would re-use old numbers in this server's
 * binlog, so those lines are dropped and the server numbers the replay anew (MySQL's: --skip-gtids).
 * On failure the target is dropped; on success it is handed on (a user for a new database, or the
 * swap of an in-place restore).
 */
export function buildRestoreScript(input: RestoreScriptInput): string {
  const src = must(SCHEMA_NAME, input.source, 'database name');
  const target = must(SCHEMA_NAME, input.target, 'target database');
  const stop = must(DATETIME, input.stopDatetime, 'stop time');
  const baseKey = must(BASE_KEY, input.baseKey, 'base backup key');
  return `${PRELUDE}DONE=""
finish() {
  rc=$?
  if [ -z "$DONE" ]; then sql "DROP DATABASE IF EXISTS \\\`${target}\\\`; DROP DATABASE IF EXISTS \\\`${target}_old\\\`" || true; fi
  rm -rf "$WORK"
  exit "$rc"
}
trap finish EXIT
${storeFunctions(input.root)}if [ "$(sql "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name='${target}'")" != "0" ]; then DONE=1; echo "the target ${target} exists" >&2; exit ${PitrExit.TargetExists}; fi
get '${baseKey}' "$WORK/base.sql.gz"
read -r FILE POS <<< "$({ gzip -dc "$WORK/base.sql.gz" || true; } | head -n 80 | ${READ_COORDS})"
[ -n "\${POS:-}" ] || { echo "the base backup has no binlog coordinates" >&2; exit ${PitrExit.NoCoordinates}; }
if ! sql "SHOW BINARY LOGS" | cut -f1 | grep -qxF "$FILE"; then
  echo "the binlog $FILE the base backup starts from is no longer on the server (binlog retention)" >&2
  exit ${PitrExit.BinlogGone}
fi
sql "CREATE DATABASE \\\`${target}\\\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
gzip -dc "$WORK/base.sql.gz" | ${MYSQL_CLIENT} '${target}'
if command -v mariadb-binlog >/dev/null; then BINLOG=(mariadb-binlog); else BINLOG=(mysqlbinlog --skip-gtids); fi
TZ=UTC "\${BINLOG[@]}" --read-from-remote-server --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" --to-last-log \\
  --start-position="$POS" --stop-datetime='${stop}' --database='${src}' --rewrite-db='${src}->${target}' "$FILE" \\
  | sed -E '/^\\/\\*M!100001 SET @@session\\.gtid_seq_no=[0-9]+\\*\\/\\/\\*!\\*\\/;$/d' \\
  | ${MYSQL_CLIENT}
${input.user ? newUser(target, input.user) : ''}${input.swapInto ? swap(target, input.swapInto) : ''}DONE=1
echo "restored ${target}"
`;
}

/** The new database's user (a leftover of the same name dropped first), as provisioning makes it. */
function newUser(db: string, user: string): string {
  const u = must(USER_NAME, user, 'user name');
  return `sql "DROP USER IF EXISTS '${u}'@'%'"\n${tenantUserLines(db, u)}`;
}

/**
 * Moves the live tables out (into a schema dropped afterwards: the state before the restore is a
 * base backup already) and the restored ones in, in ONE RENAME TABLE, which the server applies
 * atomically: a tenant statement sees either the old tables or the restored ones. The statement is
 * built by the server from information_schema, so no table name passes through the shell.
 */
function swap(scratch: string, into: string): string {
  const db = must(SCHEMA_NAME, into, 'database name');
  const old = `${scratch}_old`;
  must(SCHEMA_NAME, old, 'old tables schema');
  const moves = (from: string, to: string, k: number) =>
    `SELECT ${k} AS k, CONCAT('\\\`${from}\\\`.\\\`', table_name, '\\\` TO \\\`${to}\\\`.\\\`', table_name, '\\\`') AS m FROM information_schema.tables WHERE table_schema = '${from}'`;
  return `sql "CREATE DATABASE IF NOT EXISTS \\\`${old}\\\`"
RENAME="$(sql "SET SESSION group_concat_max_len = 16777216; SELECT CONCAT('SET SESSION lock_wait_timeout = 30; RENAME TABLE ', GROUP_CONCAT(m ORDER BY k, m SEPARATOR ', ')) FROM (${moves(db, old, 0)} UNION ALL ${moves(scratch, db, 1)}) r")"
if [ "$RENAME" != "NULL" ]; then printf '%s\\n' "$RENAME" | ${MYSQL_CLIENT}; fi
DONE=1 # swapped: what is left is clean-up, and the state before is a base backup already
sql "DROP DATABASE \\\`${old}\\\`; DROP DATABASE \\\`${scratch}\\\`" || echo "warning: ${old} or ${scratch} is left over" >&2
`;
}

/** Deletes expired base backups from the store; one already gone is no failure. */
export function buildDeleteBaseBackupsScript(input: { keys: string[]; root: string }): string {
  const lines = input.keys.map((key) => `del '${must(BASE_KEY, key, 'base backup key')}'`);
  return `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
${storeFunctions(input.root)}del() { if [[ "$ROOT" == s3://* ]]; then aws s3 rm --only-show-errors "$ROOT/$1"; else rm -f "$ROOT/$1"; fi; }
${lines.join('\n')}
`;
}

/**
 * Lines that remove every base backup of these databases from the store (an erasure), appended to
 * its drop script (one host script per chunk, as before): the whole base/<database>/ prefix, so
 * base backups the whole-host backups took there go too.
 */
export function eraseBaseBackupsLines(input: { databases: string[]; root: string }): string {
  const lines = input.databases.map((db) => `erase '${must(SCHEMA_NAME, db, 'database name')}'`);
  return `${storeFunctions(input.root)}erase() { if [[ "$ROOT" == s3://* ]]; then aws s3 rm --only-show-errors --recursive "$ROOT/base/$1/"; else rm -rf "$ROOT/base/$1"; fi; }
${lines.join('\n')}
`;
}
