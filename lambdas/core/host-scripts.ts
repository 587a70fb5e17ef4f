import { randomBytes } from 'node:crypto';
import { JOB_ID, SCHEMA_NAME, SQL_IDENTIFIER, USER_NAME } from './patterns.ts';
import type { HostRecord, HostRunner, HostRunResult, SchemaFiles } from './ports.ts';

/**
 * Bash scripts run on a MySQL host (SSM on AWS, bash locally). Every value placed in a script is
 * checked against a strict pattern or base64-encoded, so nothing a tenant sends reaches the shell
 * or SQL as code. The host supplies the admin login in ~/.my.cnf and may override where MySQL
 * listens with OCTODB_DB_HOST / OCTODB_DB_PORT (the EC2 host defaults to its own 127.0.0.1:3306).
 */

const SQL_FILE = /^[A-Za-z0-9_-]{1,64}\.sql$/;

export function must(pattern: RegExp, value: string, what: string): string {
  if (!pattern.test(value)) throw new Error(`refusing to put an unsafe ${what} into a host script: ${JSON.stringify(value)}`);
  return value;
}

/** Where the EC2 host keeps OctoDB's CA certificate (lib/host-tls.ts writes it; scripts there verify MySQL with it). */
export const HOST_CA_FILE = '/etc/octodb-tls/ca.pem';

/**
 * Every connection a script makes is TLS with the server verified: the mysql client by the
 * [client] options in ~/.my.cnf (ssl-ca, and the name check), Skeema by `tls=true` in its
 * connect-options, with which its Go driver checks the certificate and the host name against
 * SSL_CERT_FILE: the CA alone (OCTODB_DB_CA; on the EC2 host HOST_CA_FILE).
 */
const SKEEMA_TLS = 'tls=true';

/** The mysql client to the host's server, over TCP (the login and TLS options come from ~/.my.cnf). */
export const MYSQL_CLIENT = 'mysql --protocol=TCP -h "$DB_HOST" -P "$DB_PORT"';

export const PRELUDE = `set -euo pipefail
export HOME="\${HOME:-/root}"
DB_HOST="\${OCTODB_DB_HOST:-127.0.0.1}"
DB_PORT="\${OCTODB_DB_PORT:-3306}"
DB_CA="\${OCTODB_DB_CA:-${HOST_CA_FILE}}"
skeema() { SSL_CERT_FILE="$DB_CA" command skeema "$@"; }
sql() { ${MYSQL_CLIENT} --batch --skip-column-names -e "$1"; }
WORK="$(mktemp -d)"
`;

/** Writes `dir`'s .skeema: the server (over TLS, verified) and the schema; `extra` adds option lines. */
export function skeemaTarget(dir: string, schema: string, extra = ''): string {
  return `printf 'host=%s\\nport=%s\\nschema=%s\\nconnect-options=${SKEEMA_TLS}\\n${extra}' "$DB_HOST" "$DB_PORT" '${must(SCHEMA_NAME, schema, 'schema name')}' > "${dir}/.skeema"`;
}

/** Writes the files into $WORK/<dir> with a .skeema naming the target schema, then `skeema push`. */
function skeemaPush(dir: string, schema: string, files: SchemaFiles, tempSchema: string, extraFlags = ''): string {
  const lines = [`mkdir -p "$WORK/${dir}"`];
  for (const [name, sql] of Object.entries(files)) {
    const encoded = Buffer.from(sql, 'utf8').toString('base64');
    lines.push(`printf '%s' '${encoded}' | base64 -d > "$WORK/${dir}/${must(SQL_FILE, name, 'file name')}"`);
  }
  lines.push(
    skeemaTarget(`$WORK/${dir}`, schema, 'default-character-set=utf8mb4\\ndefault-collation=utf8mb4_unicode_ci\\n'),
    `(cd "$WORK/${dir}" && skeema push --temp-schema='${must(SCHEMA_NAME, tempSchema, 'temp schema')}'${extraFlags})`,
  );
  return lines.join('\n');
}

/** Brings a schema (e.g. the MetaDB) to the state of a Skeema directory's files. */
export function buildSchemaPushScript(input: { schema: string; files: SchemaFiles; tempSchema: string }): string {
  return `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
${skeemaPush('schema', input.schema, input.files, input.tempSchema)}
`;
}

export interface ProvisionScriptInput {
  database: string;
  user: string;
  templateFiles: SchemaFiles;
  tempSchema: string;
}

/**
 * Creates the tenant's database, a MySQL user allowed only that database (DML only: schema
 * changes go through /migrate) and only over TLS (REQUIRE SSL), and pushes the template. On any
 * failure it removes what it made.
 * The user's password is random and never leaves the host: the caller sets the real one over its
 * own MySQL connection, so no credential is kept in SSM's command history.
 * It first drops a database and user of the same names: the leftover of an earlier attempt for
 * this db_id (a killed script, a cleanup that failed). Only for a database never `ready`, which
 * holds no tenant data (see provisionDatabase).
 */
export function buildProvisionScript(input: ProvisionScriptInput): string {
  const db = must(SCHEMA_NAME, input.database, 'database name');
  const user = must(USER_NAME, input.user, 'user name');
  return `${PRELUDE}CREATED=""
finish() {
  rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$CREATED" ]; then
    echo "provisioning failed (exit $rc); removing the half-made database and user" >&2
    sql "DROP DATABASE IF EXISTS \\\`${db}\\\`; DROP USER IF EXISTS '${user}'@'%'" || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap finish EXIT
sql "DROP DATABASE IF EXISTS \\\`${db}\\\`; DROP USER IF EXISTS '${user}'@'%'"
sql "CREATE DATABASE \\\`${db}\\\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
CREATED=1
${tenantUserLines(db, user)}${skeemaPush('template', db, input.templateFiles, input.tempSchema)}
echo "database ${db} ready"
`;
}

/**
 * A tenant's MySQL user: its database's rows only (DML), only over TLS, with a random password
 * that never leaves the host (the caller sets the real one over its own connection).
 */
export function tenantUserLines(database: string, user: string): string {
  const db = must(SCHEMA_NAME, database, 'database name');
  const u = must(USER_NAME, user, 'user name');
  return `sql "CREATE USER '${u}'@'%' IDENTIFIED BY '$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \\n')' REQUIRE SSL"
sql "GRANT SELECT, INSERT, UPDATE, DELETE ON \\\`${db}\\\`.* TO '${u}'@'%'"
`;
}

/** Removes a tenant database and its user; safe to run when either is already gone. */
export const buildDropDatabaseScript = (input: { database: string; user: string }): string => buildDropDatabasesScript([input]);

/**
 * Drops databases and their users on one host, many per script (an erasure's chunk: one SSM
 * command); each user's open sessions are killed first, so none keeps running on a dropped
 * database. Safe to run again: every step is IF EXISTS.
 */
export function buildDropDatabasesScript(targets: { database: string; user: string; backups?: string }[]): string {
  const users = targets.map((t) => `'${must(USER_NAME, t.user, 'user name')}'`);
  const dropSchema = (name: string) => `DROP DATABASE IF EXISTS \\\`${must(SCHEMA_NAME, name, 'database name')}\\\`;`;
  // `backups`: the schema holding the database's removed tables (drop_tables), dropped with it.
  const drops = targets.map((t, i) => `${dropSchema(t.database)} ${t.backups ? `${dropSchema(t.backups)} ` : ''}DROP USER IF EXISTS ${users[i]}@'%';`);
  // Two mysql client runs per script, whatever the number of databases (a client start costs more than a drop).
  return `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
for id in $(sql "SELECT id FROM information_schema.processlist WHERE user IN (${users.join(', ')})"); do sql "KILL $id" 2>/dev/null || true; done
sql "${drops.join(' ')}"
echo "dropped ${targets.length} database(s)"
`;
}

// --- table migrations (issue 5) ---

/**
 * The lines the core splits a table script's stdout on. Each run has its own random nonce: the
 * script also prints DDL and definitions holding tenant text (comments, names, row values in
 * errors), which can hold a line that looks like a marker but never one with this run's nonce.
 */
export interface ScriptMarkers {
  /** The table's definition read back follows it. */
  definition: string;
  /** The table does not exist. */
  noTable: string;
  /** Validate: the desired definition in the server's canonical form (`skeema format`) follows it. */
  desired: string;
  /** The push ran past its DDL time limit: it was killed, and its statements on the server too. */
  ddlTimeout: string;
}

export function newScriptMarkers(nonce = randomBytes(12).toString('hex')): ScriptMarkers {
  if (!/^[0-9a-f]{8,64}$/.test(nonce)) throw new Error('a marker nonce is hex');
  return {
    definition: `__OCTODB_DEFINITION_${nonce}__`,
    noTable: `__OCTODB_NO_TABLE_${nonce}__`,
    desired: `__OCTODB_DESIRED_${nonce}__`,
    ddlTimeout: `__OCTODB_DDL_TIMEOUT_${nonce}__`,
  };
}

/** Prints the table's definition after the definition marker (or the no-table marker when it does not exist). */
function showCreate(db: string, table: string, markers: ScriptMarkers): string {
  return `if [ "$(sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='${db}' AND table_name='${table}'")" = "0" ]; then
  echo "${markers.noTable}"
else
  echo "${markers.definition}"
  ${MYSQL_CLIENT} --raw --skip-column-names -e "SHOW CREATE TABLE \\\`${db}\\\`.\\\`${table}\\\`" | sed '1s/^[^\t]*\t//'
fi`;
}

/**
 * Kills this admin account's statements running in the tenant database or the run's temp schema
 * (the migration lock makes them this job's), waits until the server has rolled them back, then
 * drops the temp schema a killed Skeema leaves behind.
 */
function stopDdl(db: string, temp: string): string {
  const running = `FROM information_schema.processlist WHERE user = SUBSTRING_INDEX(USER(), '@', 1) AND db IN ('${db}', '${temp}') AND command <> 'Sleep' AND id <> CONNECTION_ID()`;
  return `stop_ddl() {
  for id in $(sql "SELECT id ${running}"); do sql "KILL $id" 2>/dev/null || true; done
  for _ in $(seq 1 240); do
    [ "$(sql "SELECT COUNT(*) ${running}")" = "0" ] && break
    sleep 0.5
  done
  sql "DROP DATABASE IF EXISTS \\\`${temp}\\\`" || true
}`;
}

/** Stops what a killed table script left running on the server (the runner's time limit killed its watchdog too). */
export function buildStopDdlScript(input: { database: string; tempSchema: string }): string {
  const db = must(SCHEMA_NAME, input.database, 'database name');
  const temp = must(SCHEMA_NAME, input.tempSchema, 'temp schema');
  return `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
${stopDdl(db, temp)}
stop_ddl
`;
}

/** Backup stage: prints the table's current definition and keeps a copy on the host. */
export function buildTableBackupScript(input: { database: string; table: string; jobId: string; markers: ScriptMarkers }): string {
  const db = must(SCHEMA_NAME, input.database, 'database name');
  const table = must(SQL_IDENTIFIER, input.table, 'table name');
  const job = must(JOB_ID, input.jobId, 'job id');
  return `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
OUT="$(${showCreate(db, table, input.markers)})"
BACKUPS="$HOME/octodb-backups/${db}"
mkdir -p "$BACKUPS" && chmod 700 "$HOME/octodb-backups"
printf '%s\\n' "$OUT" > "$BACKUPS/${table}.${job}.sql"
printf '%s\\n' "$OUT"
`;
}

export interface TableSkeemaInput {
  database: string;
  table: string;
  /** The table's desired CREATE TABLE; null: the table must not exist (rolling back a new table). */
  definition: string | null;
  tempSchema: string;
  allowUnsafe?: boolean;
  markers: ScriptMarkers;
  /** Push: how long the push may run; past it Skeema is killed and its statements on the server too. */
  ddlTimeoutSeconds: number;
  /**
   * Push on MariaDB: the same limit as the server's max_statement_time, which covers DDL there
   * (MySQL 8's max_execution_time covers SELECT only: the kill is what bounds it). False leaves
   * only the kill (tests prove with it what bounds MySQL 8).
   */
  serverTimeLimit?: boolean;
}

/**
 * Update / validate / rollback: `skeema pull` the schema into a workspace (so the other tables
 * stay as they are), replace this table's file with the desired definition, then `skeema push`
 * (mode push) or `skeema diff` (mode diff, exit 0 = clean) and print the definition read back.
 * Mode diff also prints the desired definition as `skeema format` writes it (created in a temp
 * schema with the database's defaults, then SHOW CREATE TABLE), to compare with the one read back.
 */
export function buildTableSkeemaScript(input: TableSkeemaInput, mode: 'push' | 'diff'): string {
  const db = must(SCHEMA_NAME, input.database, 'database name');
  const table = must(SQL_IDENTIFIER, input.table, 'table name');
  const temp = must(SCHEMA_NAME, input.tempSchema, 'temp schema');
  const file = `"$WORK/s/${table}.sql"`;
  const write =
    input.definition === null
      ? `rm -f ${file}`
      : `printf '%s' '${Buffer.from(`${input.definition.trim()};\n`, 'utf8').toString('base64')}' | base64 -d > ${file}`;
  const flags = `--temp-schema='${temp}'${input.allowUnsafe ? ' --allow-unsafe' : ''}`;
  const { markers } = input;
  const format =
    mode === 'diff' && input.definition !== null
      ? `mkdir -p "$WORK/f" && cp "$WORK/s/.skeema" ${file} "$WORK/f/"
(cd "$WORK/f" && skeema format --temp-schema='${temp}' >&2)
FRC=$?
if [ "$FRC" -le 1 ]; then echo "${markers.desired}"; cat "$WORK/f/${table}.sql"; echo; elif [ "$RC" -eq 0 ]; then RC=$FRC; fi
`
      : '';
  return `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/s"
${skeemaTarget('$WORK/s', db)}
(cd "$WORK/s" && skeema pull --temp-schema='${temp}' >/dev/null)
${write}
set +e
${mode === 'push' ? boundedPush(db, temp, flags, input) : `(cd "$WORK/s" && skeema diff ${flags})\nRC=$?`}
${format}set -e
${showCreate(db, table, markers)}
exit "$RC"
`;
}

/**
 * `skeema push` under the DDL time limit: on MariaDB the server stops a statement past it
 * (max_statement_time, Error 1969); everywhere a watchdog kills Skeema a little later and then
 * its statements on the server, waits for their rollback, and prints the timeout marker.
 */
function boundedPush(db: string, temp: string, flags: string, input: TableSkeemaInput): string {
  const limit = Math.max(1, Math.floor(input.ddlTimeoutSeconds));
  const serverLimit =
    input.serverTimeLimit === false
      ? ''
      : `if sql "SELECT VERSION()" | grep -qi mariadb; then LIMIT=" --connect-options=${SKEEMA_TLS},max_statement_time=${limit}"; fi\n`;
  // First what an earlier try left running on the server (its worker died mid-push, its script or
  // statement lives on): under the database's lock it is this job's, and racing it would fail the push.
  return `${stopDdl(db, temp)}
stop_ddl
LIMIT=""
${serverLimit}(cd "$WORK/s" && SSL_CERT_FILE="$DB_CA" exec timeout -s KILL ${limit + 2} skeema push ${flags}$LIMIT)
RC=$?
if [ "$RC" -eq 137 ]; then
  echo "the push ran past its time limit of ${limit}s: stopping its statements on the server" >&2
  stop_ddl
  echo "${input.markers.ddlTimeout}"
fi`;
}

/**
 * The DDL that takes a table from one definition to another, as Skeema computes it: `from` is
 * created alone in a scratch schema (foreign keys unchecked, it has no neighbours), `skeema diff`
 * against `to` prints the ALTER, the scratch schema is dropped. For a parent job whose own push
 * output was lost (a retry after the push went through prints no changes): the cascade needs it.
 */
export function buildAlterPlanScript(input: { scratch: string; table: string; from: string; to: string; tempSchema: string }): string {
  const scratch = must(SCHEMA_NAME, input.scratch, 'scratch schema');
  const table = must(SQL_IDENTIFIER, input.table, 'table name');
  const temp = must(SCHEMA_NAME, input.tempSchema, 'temp schema');
  const b64 = (sql: string) => Buffer.from(`${sql.trim().replace(/;$/, '')};\n`, 'utf8').toString('base64');
  return `${PRELUDE}trap 'sql "DROP DATABASE IF EXISTS \\\`${scratch}\\\`" || true; rm -rf "$WORK"' EXIT
sql "CREATE DATABASE \\\`${scratch}\\\`"
{ echo 'SET foreign_key_checks = 0;'; printf '%s' '${b64(input.from)}' | base64 -d; } | ${MYSQL_CLIENT} '${scratch}'
mkdir -p "$WORK/s"
${skeemaTarget('$WORK/s', scratch)}
printf '%s' '${b64(input.to)}' | base64 -d > "$WORK/s/${table}.sql"
set +e
(cd "$WORK/s" && skeema diff --allow-unsafe --temp-schema='${temp}')
RC=$?
set -e
# diff exits 1 when there are differences: that is the expected outcome here.
[ "$RC" -le 1 ]
`;
}

/** Runs a host script; a runner that throws (SSM unreachable, bash missing) becomes a failed run. */
export async function runOnHost(runner: HostRunner, host: HostRecord, script: string, timeoutSeconds: number): Promise<HostRunResult> {
  try {
    return await runner.run(host, script, timeoutSeconds);
  } catch (error) {
    return { exitCode: -1, stdout: '', stderr: `host command could not run: ${(error as Error).message}`, notRun: true };
  }
}
