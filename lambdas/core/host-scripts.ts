import type { SchemaFiles } from './ports.ts';

/**
 * Bash scripts run on a MySQL host (SSM on AWS, bash locally). Every value placed in a script is
 * checked against a strict pattern or base64-encoded, so nothing a tenant sends reaches the shell
 * or SQL as code. The host supplies the admin login in ~/.my.cnf and may override where MySQL
 * listens with OCTODB_DB_HOST / OCTODB_DB_PORT (the EC2 host defaults to its own 127.0.0.1:3306).
 */

const SCHEMA_NAME = /^[A-Za-z0-9_]{1,64}$/;
const USER_NAME = /^[A-Za-z0-9_]{1,32}$/;
const SQL_FILE = /^[A-Za-z0-9_-]{1,64}\.sql$/;

function must(pattern: RegExp, value: string, what: string): string {
  if (!pattern.test(value)) throw new Error(`refusing to put an unsafe ${what} into a host script: ${JSON.stringify(value)}`);
  return value;
}

const PRELUDE = `set -euo pipefail
export HOME="\${HOME:-/root}"
DB_HOST="\${OCTODB_DB_HOST:-127.0.0.1}"
DB_PORT="\${OCTODB_DB_PORT:-3306}"
sql() { mysql --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" --batch --skip-column-names -e "$1"; }
WORK="$(mktemp -d)"
`;

/** Writes the files into $WORK/<dir> with a .skeema naming the target schema, then `skeema push`. */
function skeemaPush(dir: string, schema: string, files: SchemaFiles, tempSchema: string, extraFlags = ''): string {
  const lines = [`mkdir -p "$WORK/${dir}"`];
  for (const [name, sql] of Object.entries(files)) {
    const encoded = Buffer.from(sql, 'utf8').toString('base64');
    lines.push(`printf '%s' '${encoded}' | base64 -d > "$WORK/${dir}/${must(SQL_FILE, name, 'file name')}"`);
  }
  lines.push(
    `printf 'host=%s\\nport=%s\\nschema=%s\\ndefault-character-set=utf8mb4\\ndefault-collation=utf8mb4_unicode_ci\\n' "$DB_HOST" "$DB_PORT" '${must(SCHEMA_NAME, schema, 'schema name')}' > "$WORK/${dir}/.skeema"`,
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
 * changes go through /migrate), and pushes the template. On any failure it removes what it made.
 * The user's password is random and never leaves the host: the caller sets the real one over its
 * own MySQL connection, so no credential is kept in SSM's command history.
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
sql "CREATE DATABASE \\\`${db}\\\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
CREATED=1
sql "CREATE USER '${user}'@'%' IDENTIFIED BY '$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \\n')'"
sql "GRANT SELECT, INSERT, UPDATE, DELETE ON \\\`${db}\\\`.* TO '${user}'@'%'"
${skeemaPush('template', db, input.templateFiles, input.tempSchema)}
echo "database ${db} ready"
`;
}

/** Removes a tenant database and its user; safe to run when either is already gone. */
export function buildDropDatabaseScript(input: { database: string; user: string }): string {
  const db = must(SCHEMA_NAME, input.database, 'database name');
  const user = must(USER_NAME, input.user, 'user name');
  return `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
sql "DROP DATABASE IF EXISTS \\\`${db}\\\`; DROP USER IF EXISTS '${user}'@'%'"
`;
}
