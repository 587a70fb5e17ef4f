import { DDL_MARGIN_SECONDS } from './host-script-timeout.ts';
import { buildStopDdlScript, buildTableSkeemaScript, newScriptMarkers, type ScriptMarkers } from './host-scripts.ts';
import { databaseName, tempSchemaName } from './ids.ts';
import type { HostRunResult, MigrationJobRecord, MigrationStage } from './ports.ts';
import { failureReason, LOG_PREFIX } from './skeema-output.ts';

/**
 * Skeema's exit codes (skeema's exit.go, the same in v1.9–v1.12). One number means two things:
 * 1 is CodeDifferencesFound for `diff` (and `format`, `lint`: files differ) and CodePartialError
 * for any command that skipped a table it cannot diff (an unsupported feature), which Skeema then
 * reports on stderr as a WARN line "Skipped N operation(s) due to unsupported feature(s)". A push
 * never exits 1 for differences. 2 is a fatal error (also: a statement failed, operations skipped
 * due to problems), 78 a bad configuration.
 */
export const SkeemaExit = {
  Success: 0,
  DifferencesOrPartialError: 1,
  FatalError: 2,
  BadConfig: 78,
} as const;

/**
 * runOnHost's exit code for a script that could not be started at all (SSM or bash unavailable),
 * which also sets HostRunResult.notRun. A runner that stopped a script at its time limit reports
 * -1 as well, with timedOut: that is no 'not-run'.
 */
export const NOT_RUN = -1;

/** What a Skeema run (or a host script ending with Skeema's code) came to. */
export type SkeemaOutcome = 'clean' | 'differences' | 'partial-error' | 'fatal' | 'bad-config' | 'not-run' | 'timed-out';

/** Skeema's own words for exit 1 as a partial error: the summary, or a table it skipped. */
const PARTIAL_ERROR = /\bSkipped \d+ operations? due to (?:an )?unsupported feature|Skeema does not support generating a diff/;

export function skeemaOutcome(result: Pick<HostRunResult, 'exitCode' | 'stderr' | 'timedOut' | 'notRun'>): SkeemaOutcome {
  if (result.timedOut) return 'timed-out';
  if (result.notRun) return 'not-run';
  switch (result.exitCode) {
    case SkeemaExit.Success:
      return 'clean';
    case SkeemaExit.DifferencesOrPartialError:
      return PARTIAL_ERROR.test(result.stderr) ? 'partial-error' : 'differences';
    case SkeemaExit.BadConfig:
      return 'bad-config';
    case NOT_RUN:
      return 'not-run';
    default:
      return 'fatal';
  }
}

/** A table script's output, parsed once: Skeema's outcome, the DDL it printed, the definitions after the markers. */
export interface TableScriptOutput {
  outcome: SkeemaOutcome;
  /** The DDL Skeema printed (without its `-- instance` and USE lines). */
  ddl: string;
  /** The table's definition read back: string, null (no such table), undefined (none printed). */
  definition: string | null | undefined;
  /** The desired definition as `skeema format` wrote it (validate); undefined when not printed. */
  desired: string | undefined;
}

export function parseTableScript(result: HostRunResult, markers: ScriptMarkers): TableScriptOutput {
  const { stdout } = result;
  return { outcome: skeemaOutcome(result), ddl: ddlOf(stdout, markers), definition: parseDefinition(stdout, markers), desired: parseDesired(stdout, markers) };
}

/** The DDL Skeema printed (without its `-- instance` and USE lines), up to the script's first marker. */
export function ddlOf(stdout: string, markers?: ScriptMarkers): string {
  const lines = stdout.split('\n');
  const own = markers ? [markers.definition, markers.noTable, markers.desired, markers.ddlTimeout] : [];
  const end = lines.findIndex((l) => own.includes(l));
  return (end >= 0 ? lines.slice(0, end) : lines)
    .filter((l) => l.trim() && !l.startsWith('--') && !/^USE /.test(l))
    .join('\n')
    .trim();
}

/**
 * The definition a table script printed: string, null (no such table), undefined (none printed).
 * Only this run's markers count: tenant text in the output may print a line like another run's.
 */
export function parseDefinition(stdout: string, markers: ScriptMarkers): string | null | undefined {
  const lines = stdout.split('\n');
  const at = lines.lastIndexOf(markers.definition);
  if (at >= 0) return lines.slice(at + 1).join('\n').trim();
  return lines.includes(markers.noTable) ? null : undefined;
}

/** The desired definition as `skeema format` wrote it (validate), undefined when not printed. */
export function parseDesired(stdout: string, markers: ScriptMarkers): string | undefined {
  const lines = stdout.split('\n');
  const at = lines.indexOf(markers.desired);
  if (at < 0) return undefined;
  const end = lines.findIndex((l, i) => i > at && (l === markers.definition || l === markers.noTable));
  return lines.slice(at + 1, end < 0 ? undefined : end).join('\n').trim();
}

/** timeout: the DDL ran past its limit and was stopped on the server; like permanent, never retried. */
export type Failure = { kind: 'transient' | 'unsafe' | 'timeout' | 'permanent'; reason: string };
/** One Skeema step of a job (push or diff of one table), as the job runner consumes it. */
export type StepResult =
  | { ok: true; definition: string | null; output: string; desired?: string | null }
  | ({ ok: false; definition: string | null } & Failure);

/**
 * MySQL server (and client library) error numbers worth a retry: the server was busy or a
 * connection dropped, not the DDL wrong. The one set: Skeema's errors here, the MySQL driver's in
 * adapters/mysql-errors.ts.
 */
export const TRANSIENT_ERRNOS: ReadonlySet<number> = new Set([1040, 1205, 1213, 2002, 2003, 2006, 2013]);
/** A statement stopped at a time limit: MariaDB's max_statement_time, MySQL's max_execution_time, KILL QUERY. */
const TIMEOUT_ERRNOS: ReadonlySet<number> = new Set([1317, 1969, 3024]);
/** Failures the Go driver reports without a server error number. */
const CONNECTION_FAILURE = /invalid connection|bad connection|dial tcp|i\/o timeout|connection refused|Can't connect/;

/**
 * Transient (retried), unsafe (refused, names the change), timeout or permanent. Only the server's
 * error number decides a retry, read where tenant text cannot reach: on Skeema's first [ERROR]
 * line, the first `Error NNNN` before any quote (a message quoting tenant text, even one holding
 * newlines and fake log lines, comes after it). Connection failures carry no number: they are
 * read from the same place. The reason is the server's own error (skeema-output.ts failureReason).
 * `ddlStoppedAfter`: the script's watchdog stopped the push.
 */
export function classify(result: Pick<HostRunResult, 'stdout' | 'stderr' | 'exitCode' | 'timedOut' | 'notRun'>, ddlStoppedAfter?: number): Failure {
  const lines = result.stderr.split('\n').map((l) => l.replace(LOG_PREFIX, '').trim()).filter(Boolean);
  if (ddlStoppedAfter !== undefined || result.timedOut) {
    const limit = ddlStoppedAfter === undefined ? 'the host script time limit' : `its time limit of ${ddlStoppedAfter}s`;
    return { kind: 'timeout', reason: `the change ran past ${limit} and was stopped on the server` };
  }
  if (result.notRun) return { kind: 'transient', reason: lines[0] ?? 'host command could not run' };
  if (/Preventing execution of unsafe/.test(result.stderr)) {
    const changes = lines.filter((l) => l.startsWith('# ')).map((l) => l.slice(2));
    return {
      kind: 'unsafe',
      reason: `unsafe change refused: ${changes.join('; ') || 'destructive statement'} (set allow_unsafe to permit it)`,
    };
  }
  const reason = failureReason(result.stderr, result.exitCode);
  const first = result.stderr.split('\n').find((l) => /^\S+ \S+ \[ERROR\]/.test(l))?.replace(LOG_PREFIX, '') ?? '';
  // Tenant text is quoted in server messages: only what precedes the first quote is Skeema's and the server's.
  const head = first.split(/['"`]/)[0]!;
  const errno = Number(/\bError (\d{4,5})\b/.exec(head)?.[1] ?? 0);
  if (TIMEOUT_ERRNOS.has(errno)) return { kind: 'timeout', reason: `the change ran past its time limit and was stopped on the server: ${reason}` };
  const transient = errno ? TRANSIENT_ERRNOS.has(errno) : CONNECTION_FAILURE.test(head);
  return { kind: transient ? 'transient' : 'permanent', reason };
}

/** SHOW CREATE TABLE without the parts that change with data (AUTO_INCREMENT=n) or a final semicolon. */
export function normalizeDefinition(definition: string): string {
  return definition.replace(/ AUTO_INCREMENT=\d+/, '').trim().replace(/;$/, '').trim();
}

/**
 * The definition read back equals the desired one, both in the server's canonical form. Only the
 * order of secondary indexes and constraints may differ: it has no effect, Skeema does not change
 * it, and MariaDB cannot (it keeps an index dropped and re-added in one ALTER where it was).
 */
export function sameDefinition(readBack: string, desired: string | null | undefined): boolean {
  return typeof desired === 'string' && comparable(readBack) === comparable(desired);
}

const INDEX_LINE = /^\s*(UNIQUE KEY|FULLTEXT KEY|SPATIAL KEY|KEY|CONSTRAINT) /;
function comparable(definition: string): string {
  const lines = normalizeDefinition(definition).split('\n').map((l) => l.replace(/,$/, ''));
  const indexes = lines.filter((l) => INDEX_LINE.test(l)).sort();
  return [...lines.filter((l) => !INDEX_LINE.test(l)), ...indexes].join('\n');
}

/** Runs one of a job's host scripts for a stage (its output goes to the job's log records). */
export type ScriptRun = (stage: MigrationStage, script: string) => Promise<HostRunResult>;

/** The time limits a step runs under (MigrationSettings has both). */
export interface StepLimits {
  /** How long one push may run before it is stopped on the server. */
  ddlTimeoutSeconds: number;
  /** The host script's own limit (the runner's). */
  scriptTimeoutSeconds: number;
}

/**
 * `skeema push` (or `diff`) of one table's definition (null: the table must not exist) in a
 * workspace of its database, read back after. A push runs under the DDL time limit. A diff with
 * differences is a permanent failure; a partial error (a table Skeema cannot diff) too; a script
 * that could not start is transient; anything else goes through classify. `markers`: the run's
 * own (a fresh nonce unless a test pins one).
 */
export async function skeemaStep(
  run: ScriptRun,
  stage: MigrationStage,
  job: Pick<MigrationJobRecord, 'dbId' | 'table'>,
  definition: string | null,
  mode: 'push' | 'diff',
  allowUnsafe: boolean,
  limits: StepLimits,
  markers: ScriptMarkers = newScriptMarkers(),
): Promise<StepResult> {
  const database = databaseName(job.dbId);
  const tempSchema = tempSchemaName();
  const ddlTimeoutSeconds = ddlLimit(limits);
  const script = buildTableSkeemaScript({ database, table: job.table, definition, tempSchema, allowUnsafe, markers, ddlTimeoutSeconds }, mode);
  const result = await run(stage, script);
  const out = parseTableScript(result, markers);
  if (mode === 'push' && out.outcome === 'clean' && out.definition === null && definition !== null) {
    // Skeema leaves out the tables it does not manage (MariaDB system-versioned tables in 1.9) and says nothing.
    return { ok: false, definition: null, kind: 'permanent', reason: UNMANAGED };
  }
  if (out.outcome === 'clean' && out.definition !== undefined) return { ok: true, definition: out.definition, output: out.ddl, desired: out.desired };
  const definitionRead = out.definition ?? null;
  if (mode === 'diff' && out.outcome === 'differences') {
    return { ok: false, definition: definitionRead, kind: 'permanent', reason: `skeema diff is not clean after the push: ${out.ddl || 'differences remain'}` };
  }
  if (out.outcome === 'partial-error') {
    const skipped = result.stderr.split('\n').filter((l) => PARTIAL_ERROR.test(l)).map((l) => l.replace(/^\S+ \S+ \[WARN\]\s*/, '').trim());
    return { ok: false, definition: definitionRead, kind: 'permanent', reason: `Skeema skipped what it cannot change: ${skipped.join('; ')}`.slice(0, 1000) };
  }
  if (out.outcome === 'not-run') return { ok: false, definition: definitionRead, ...classify({ ...result, notRun: true }) };
  if (mode === 'push' && out.outcome === 'timed-out') {
    // The runner killed the script and its watchdog with it: stop what the push left on the server.
    await run(stage, buildStopDdlScript({ database, tempSchema }));
  }
  const stopped = result.stdout.split('\n').includes(markers.ddlTimeout);
  return { ok: false, definition: definitionRead, ...classify(result, stopped ? ddlTimeoutSeconds : undefined) };
}

const UNMANAGED = 'Skeema made no change and the table does not exist: Skeema does not manage this kind of table (e.g. a MariaDB system-versioned table)';

/** The push's limit stays inside the host script's own, so the script's watchdog acts first. */
function ddlLimit(limits: StepLimits): number {
  return Math.max(1, Math.min(limits.ddlTimeoutSeconds, limits.scriptTimeoutSeconds - DDL_MARGIN_SECONDS));
}
