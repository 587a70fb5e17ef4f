import { databaseFor } from './api-keys.ts';
import { ConflictError, UnavailableError, ValidationError } from './errors.ts';
import { runOnHost } from './host-scripts.ts';
import { databaseName, tempSchemaName } from './ids.ts';
import { ownedDatabase } from './owned-database.ts';
import { currentDefinitions, lintByTable, statementsByTable, tablePlans, unsafeTables, type TablePlan } from './plan-output.ts';
import { buildPlanScript, newPlanMarkers } from './plan-scripts.ts';
import type { Caller, DatabaseRecord, HostRunner, MetaStore, StatementJudge } from './ports.ts';
import { classify, skeemaOutcome } from './skeema.ts';
import { judgeMigrationSql } from './statement-judging.ts';

/** What /migrate asks for, as the request schema reads it. */
export interface MigrationInput {
  sql?: string;
  db_id?: string;
  /** Tables removed from the desired state (DROP TABLE; a rename is a removal plus a CREATE TABLE of the new name). */
  drop_tables: string[];
  allow_unsafe: boolean;
  /** All tables succeed or each is restored (never with drop_tables: the request refuses that). */
  atomic?: boolean;
}

/** A table of the request: its desired definition, or null when it is to be removed. */
export type RequestedTable = { table: string; definition: string | null };

/**
 * The tables a /migrate request names and the database they go to: every statement judged (one
 * refused refuses all), a table named twice refused, the database the caller's and ready.
 */
export async function requestedTables(
  input: MigrationInput,
  caller: Caller,
  deps: { meta: Pick<MetaStore, 'getDatabase'>; judge: StatementJudge },
): Promise<{ db: DatabaseRecord; dbId: string; tables: RequestedTable[] }> {
  const definitions = input.sql ? await judgeMigrationSql(input.sql, caller.tenantId, deps.judge) : [];
  const both = input.drop_tables.filter((t) => definitions.some((d) => d.table === t));
  if (both.length || new Set(input.drop_tables).size !== input.drop_tables.length) {
    throw new ValidationError(`Invalid migration: a table is both defined and dropped, or dropped twice: ${[...new Set(both)].join(', ') || 'drop_tables'}`, { code: 'DUPLICATE_TABLE' });
  }
  const dbId = databaseFor(caller, input.db_id);
  const db = await ownedDatabase(deps.meta, caller.tenantId, dbId);
  if (db.status !== 'ready') throw new ConflictError(`Database is ${db.status}, not ready`);
  const tables = [...definitions.map((d) => ({ table: d.table, definition: d.sql })), ...input.drop_tables.map((table) => ({ table, definition: null }))];
  return { db, dbId, tables };
}

/**
 * A table removed from the desired state (DROP, or the old name of a rename) loses its rows: only
 * with allow_unsafe (its rows then go to a backup the tenant can restore). A dry run shows it.
 */
export function assertRemovalsAllowed(tables: RequestedTable[], allowUnsafe: boolean): void {
  const removed = tables.filter((t) => t.definition === null).map((t) => t.table);
  if (removed.length && !allowUnsafe) {
    throw new ValidationError(`Unsafe migration refused: removing ${removed.map((t) => `\`${t}\``).join(', ')} drops its rows (set allow_unsafe to permit it; see the plan with dry_run)`, {
      code: 'UNSAFE_CHANGE',
      tables: removed,
    });
  }
}

export interface PlanResult {
  dry_run: true;
  db_id: string;
  tables: TablePlan[];
}

/**
 * POST /migrate with dry_run: what the migration would do, changing nothing.
 * Primary course: validate as /migrate does, have Skeema diff every table against the database as
 * it is (one host script, its own temp schema), lint it and name what it refuses as unsafe.
 */
export async function planMigration(
  input: MigrationInput,
  caller: Caller,
  deps: { meta: Pick<MetaStore, 'getDatabase' | 'getHost'>; judge: StatementJudge; hostRunner: HostRunner; scriptTimeoutSeconds: number; tableBackupHours: number },
): Promise<PlanResult> {
  const { db, dbId, tables } = await requestedTables(input, caller, deps);
  const host = await deps.meta.getHost(db.hostId);
  if (!host) throw new UnavailableError(`the database's host ${db.hostId} is unknown`);
  const markers = newPlanMarkers();
  const script = buildPlanScript({ database: databaseName(dbId), tempSchema: tempSchemaName(), tables, markers });
  const result = await runOnHost(deps.hostRunner, host, script, deps.scriptTimeoutSeconds);
  const outcome = skeemaOutcome(result);
  if (outcome !== 'clean' && outcome !== 'differences') {
    const failure = classify(result);
    // The server refusing a definition (Error 1074, 1064 …) is the request's fault; anything else is ours to retry.
    if (failure.kind === 'permanent' && outcome === 'fatal') throw new ValidationError(`Invalid migration: ${failure.reason}`, { code: 'PLAN_REFUSED' });
    throw new UnavailableError(`the plan could not be computed: ${failure.reason}`, undefined, { cause: new Error(result.stderr.slice(0, 2000)) });
  }
  const plan = tablePlans(tables, {
    statements: statementsByTable(result.stdout, markers),
    unsafe: unsafeTables(result.stdout, markers),
    current: currentDefinitions(result.stdout, markers),
    lint: lintByTable(result.stderr),
  });
  // What the real /migrate does instead of Skeema's DROP: the rows stay restorable for a while.
  for (const p of plan.filter((t) => t.change === 'drop' || t.change === 'rename')) {
    p.unsafe_reasons.push(`with allow_unsafe the table is moved, rows included, to a backup kept ${deps.tableBackupHours} hours (/dashboard restore_table)`);
  }
  return { dry_run: true, db_id: dbId, tables: plan };
}
