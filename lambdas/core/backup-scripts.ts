import { MYSQL_CLIENT, PRELUDE, must, type ScriptMarkers } from './host-scripts.ts';
import { SCHEMA_NAME, SQL_IDENTIFIER } from './patterns.ts';

/**
 * Host scripts of table backups: a removed table is moved (RENAME TABLE: no copy, rows and
 * definition kept, instant) into its database's backup schema on the same host, and moved back
 * on restore. The backup schema has no grants for the tenant's user: the rows are out of reach
 * until restored.
 */

/** Where a backup lives: one schema per tenant database (InnoDB foreign key names are per schema), one table per backup. */
export const backupLocation = (dbId: string, backupId: string) => ({ schema: `octodb_bk_${dbId}`, table: `b_${backupId.replace(/-/g, '')}` });

/** Metadata locks held by the tenant's open transactions are waited for this long, then the move fails (and is retried). */
const LOCK_WAIT_SECONDS = 30;

/** Whether a table exists (the names are checked by the callers), as a shell word: "0" or "1". */
const exists = (schema: string, t: string) => `"$(sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='${schema}' AND table_name='${t}'")"`;

/** Exit codes the restore script gives (beside a failing statement's). */
export const RestoreExit = { TableExists: 3, BackupGone: 4 } as const;

export interface MoveInput {
  database: string;
  table: string;
  backupSchema: string;
  backupTable: string;
  markers: ScriptMarkers;
}

/**
 * Moves the table into the backup and prints its definition (the definition marker), or the
 * no-table marker when there is none. A re-run after the move went through prints the backup's
 * definition (under the table's own name). A table that other tables' foreign keys reference is
 * not moved: it fails naming them.
 */
export function buildMoveToBackupScript(input: MoveInput): string {
  const db = must(SCHEMA_NAME, input.database, 'database name');
  const table = must(SQL_IDENTIFIER, input.table, 'table name');
  const bs = must(SCHEMA_NAME, input.backupSchema, 'backup schema');
  const bt = must(SQL_IDENTIFIER, input.backupTable, 'backup table');
  const show = (schema: string, t: string) =>
    `${MYSQL_CLIENT} --raw --skip-column-names -e "SHOW CREATE TABLE \\\`${schema}\\\`.\\\`${t}\\\`" | sed '1s/^[^\t]*\t//' | sed '1s/^CREATE TABLE \`${t}\`/CREATE TABLE \`${table}\`/'`;
  return `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
if [ ${exists(db, table)} = "0" ]; then
  if [ ${exists(bs, bt)} = "1" ]; then echo "${input.markers.definition}"; ${show(bs, bt)}; else echo "${input.markers.noTable}"; fi
  exit 0
fi
REFS="$(sql "SELECT GROUP_CONCAT(DISTINCT table_name) FROM information_schema.referential_constraints WHERE constraint_schema='${db}' AND referenced_table_name='${table}' AND table_name<>'${table}'")"
if [ -n "$REFS" ] && [ "$REFS" != "NULL" ]; then
  echo "cannot remove ${table}: foreign keys of $REFS reference it; change those tables first" >&2
  exit 2
fi
echo "${input.markers.definition}"
${show(db, table)}
sql "CREATE DATABASE IF NOT EXISTS \\\`${bs}\\\`"
sql "SET SESSION lock_wait_timeout = ${LOCK_WAIT_SECONDS}; RENAME TABLE \\\`${db}\\\`.\\\`${table}\\\` TO \\\`${bs}\\\`.\\\`${bt}\\\`"
`;
}

/** Moves a backup back under its table's name; refuses when that name is taken or the backup is gone. */
export function buildRestoreBackupScript(input: Omit<MoveInput, 'markers'>): string {
  const db = must(SCHEMA_NAME, input.database, 'database name');
  const table = must(SQL_IDENTIFIER, input.table, 'table name');
  const bs = must(SCHEMA_NAME, input.backupSchema, 'backup schema');
  const bt = must(SQL_IDENTIFIER, input.backupTable, 'backup table');
  return `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
[ ${exists(db, table)} = "0" ] || exit ${RestoreExit.TableExists}
[ ${exists(bs, bt)} = "1" ] || exit ${RestoreExit.BackupGone}
sql "SET SESSION lock_wait_timeout = ${LOCK_WAIT_SECONDS}; RENAME TABLE \\\`${bs}\\\`.\\\`${bt}\\\` TO \\\`${db}\\\`.\\\`${table}\\\`"
`;
}

/** Drops an expired backup; safe when it is gone already. The schema stays (a move may be creating it right now). */
export function buildDropBackupScript(input: { backupSchema: string; backupTable: string }): string {
  const bs = must(SCHEMA_NAME, input.backupSchema, 'backup schema');
  const bt = must(SQL_IDENTIFIER, input.backupTable, 'backup table');
  return `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
sql "DROP TABLE IF EXISTS \\\`${bs}\\\`.\\\`${bt}\\\`"
`;
}
