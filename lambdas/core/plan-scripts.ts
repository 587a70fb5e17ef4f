import { randomBytes } from 'node:crypto';
import { PRELUDE, must, skeemaTarget } from './host-scripts.ts';
import { SCHEMA_NAME, SQL_IDENTIFIER } from './patterns.ts';

/**
 * The dry run's host script (POST /migrate with dry_run): Skeema computes, against the database
 * as it is, the DDL every requested table would get, and which of those changes it refuses as
 * unsafe. It only reads the database (the workspace is its own temp schema) and writes nothing.
 */

/** The lines the plan's output is split on; each run has its own nonce (tenant text cannot forge it). */
export interface PlanMarkers {
  /** Followed by a table name: Skeema refuses this table's change without --allow-unsafe. */
  unsafe: string;
  /** Followed by a table name, then that table's current definition as `skeema pull` wrote it. */
  current: string;
  /** Ends the current definition. */
  end: string;
}

export function newPlanMarkers(nonce = randomBytes(12).toString('hex')): PlanMarkers {
  return { unsafe: `__OCTODB_UNSAFE_${nonce}__`, current: `__OCTODB_CURRENT_${nonce}__`, end: `__OCTODB_END_${nonce}__` };
}

export interface PlanScriptInput {
  database: string;
  tempSchema: string;
  /** Each table's desired definition; null: the table is removed from the desired state (DROP). */
  tables: Array<{ table: string; definition: string | null }>;
  markers: PlanMarkers;
}

/**
 * `skeema pull` the schema into $WORK/cur, copy it to $WORK/s with every requested table's file
 * replaced (or removed), then `skeema diff --allow-unsafe`: its stdout is the DDL of all tables,
 * its stderr the lint of what changes (pk, dupe-index, …) and the server's errors. Then a diff
 * without --allow-unsafe: Skeema stops at the first unsafe statement, so only when it refuses one
 * is each existing table diffed alone (the others as they are) to name every unsafe table. The
 * current definition of each removed table is printed too (to tell a rename from a drop).
 */
export function buildPlanScript(input: PlanScriptInput): string {
  const db = must(SCHEMA_NAME, input.database, 'database name');
  const temp = must(SCHEMA_NAME, input.tempSchema, 'temp schema');
  const { markers } = input;
  const write = (dir: string, t: { table: string; definition: string | null }) => {
    const file = `"$WORK/${dir}/${must(SQL_IDENTIFIER, t.table, 'table name')}.sql"`;
    return t.definition === null
      ? `rm -f ${file}`
      : `printf '%s' '${Buffer.from(`${t.definition.trim()};\n`, 'utf8').toString('base64')}' | base64 -d > ${file}`;
  };
  const diff = (dir: string, flags = '') => `(cd "$WORK/${dir}" && skeema diff --temp-schema='${temp}'${flags})`;
  const each = input.tables
    .map(
      (t) => `if [ -f "$WORK/cur/${t.table}.sql" ]; then
  rm -rf "$WORK/t" && cp -a "$WORK/cur" "$WORK/t"
  ${write('t', t)}
  ${diff('t')} >/dev/null 2>"$WORK/t.err"
  if grep -q "$REFUSED" "$WORK/t.err"; then echo "${markers.unsafe} ${t.table}"; fi
fi`,
    )
    .join('\n');
  const removed = input.tables
    .filter((t) => t.definition === null)
    .map((t) => `if [ -f "$WORK/cur/${t.table}.sql" ]; then echo "${markers.current} ${t.table}"; cat "$WORK/cur/${t.table}.sql"; echo "${markers.end}"; fi`)
    .join('\n');
  return `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
REFUSED='\\[ERROR\\] Preventing execution of unsafe'
mkdir -p "$WORK/cur"
${skeemaTarget('$WORK/cur', db)}
(cd "$WORK/cur" && skeema pull --temp-schema='${temp}' >/dev/null)
cp -a "$WORK/cur" "$WORK/s"
${input.tables.map((t) => write('s', t)).join('\n')}
set +e
${diff('s', ' --allow-unsafe')}
RC=$?
if [ "$RC" -le 1 ]; then
${diff('s')} >/dev/null 2>"$WORK/safe.err"
if grep -q "$REFUSED" "$WORK/safe.err"; then
${each}
fi
${removed}
fi
exit "$RC"
`;
}
