import { buildTableSkeemaScript, DEFINITION_MARKER, DESIRED_MARKER, NO_TABLE_MARKER } from './host-scripts.ts';
import { databaseName, tempSchemaName } from './ids.ts';
import type { HostRunResult, MigrationJobRecord, MigrationStage } from './ports.ts';

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

/** runOnHost's exit code for a script that could not be started at all (SSM or bash unavailable). */
export const NOT_RUN = -1;

/** What a Skeema run (or a host script ending with Skeema's code) came to. */
export type SkeemaOutcome = 'clean' | 'differences' | 'partial-error' | 'fatal' | 'bad-config' | 'not-run';

/** Skeema's own words for exit 1 as a partial error: the summary, or a table it skipped. */
const PARTIAL_ERROR = /\bSkipped \d+ operations? due to (?:an )?unsupported feature|Skeema does not support generating a diff/;

export function skeemaOutcome(result: Pick<HostRunResult, 'exitCode' | 'stderr'>): SkeemaOutcome {
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

export function parseTableScript(result: HostRunResult): TableScriptOutput {
  return { outcome: skeemaOutcome(result), ddl: ddlOf(result.stdout), definition: parseDefinition(result.stdout), desired: parseDesired(result.stdout) };
}

/** The DDL Skeema printed (without its `-- instance` and USE lines). */
export function ddlOf(stdout: string): string {
  const lines = stdout.split('\n');
  const end = lines.findIndex((l) => l === DEFINITION_MARKER || l === NO_TABLE_MARKER || l === DESIRED_MARKER);
  return (end >= 0 ? lines.slice(0, end) : lines)
    .filter((l) => l.trim() && !l.startsWith('--') && !/^USE /.test(l))
    .join('\n')
    .trim();
}

/** The definition a table script printed: string, null (no such table), undefined (none printed). */
export function parseDefinition(stdout: string): string | null | undefined {
  const lines = stdout.split('\n');
  const at = lines.lastIndexOf(DEFINITION_MARKER);
  if (at >= 0) return lines.slice(at + 1).join('\n').trim();
  return lines.includes(NO_TABLE_MARKER) ? null : undefined;
}

/** The desired definition as `skeema format` wrote it (validate), undefined when not printed. */
export function parseDesired(stdout: string): string | undefined {
  const lines = stdout.split('\n');
  const at = lines.indexOf(DESIRED_MARKER);
  if (at < 0) return undefined;
  const end = lines.findIndex((l, i) => i > at && (l === DEFINITION_MARKER || l === NO_TABLE_MARKER));
  return lines.slice(at + 1, end < 0 ? undefined : end).join('\n').trim();
}

export type Failure = { kind: 'transient' | 'unsafe' | 'permanent'; reason: string };
/** One Skeema step of a job (push or diff of one table), as the job runner consumes it. */
export type StepResult =
  | { ok: true; definition: string | null; output: string; desired?: string | null }
  | ({ ok: false; definition: string | null } & Failure);

const TRANSIENT = /Error (1040|1205|1213|2002|2003|2006|2013)\b|Too many connections|Lock wait timeout|Deadlock found|Lost connection|server has gone away|Can't connect|connection refused|bad connection|invalid connection|i\/o timeout|host command could not run|killed by/i;

/** Transient (retried), unsafe (refused, names the change) or permanent. */
export function classify(result: Pick<HostRunResult, 'stdout' | 'stderr' | 'exitCode'>): Failure {
  const lines = result.stderr.split('\n').map((l) => l.replace(/^\S+ \S+ \[(ERROR|WARN|INFO)\]\s*/, '').trim()).filter(Boolean);
  if (/Preventing execution of unsafe/.test(result.stderr)) {
    const changes = lines.filter((l) => l.startsWith('# ')).map((l) => l.slice(2));
    return {
      kind: 'unsafe',
      reason: `unsafe change refused: ${changes.join('; ') || 'destructive statement'} (set allow_unsafe to permit it)`,
    };
  }
  const errorLine = [...lines].reverse().find((l) => /error/i.test(l) && !/^Skipped \d+ operation/.test(l)) ?? lines.at(-1) ?? `exit code ${result.exitCode}`;
  return { kind: TRANSIENT.test(result.stderr) ? 'transient' : 'permanent', reason: errorLine.slice(0, 1000) };
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

/**
 * `skeema push` (or `diff`) of one table's definition (null: the table must not exist) in a
 * workspace of its database, read back after. A diff with differences is a permanent failure;
 * a partial error (a table Skeema cannot diff) too; anything else goes through classify.
 */
export async function skeemaStep(
  run: ScriptRun,
  stage: MigrationStage,
  job: Pick<MigrationJobRecord, 'dbId' | 'table'>,
  definition: string | null,
  mode: 'push' | 'diff',
  allowUnsafe: boolean,
): Promise<StepResult> {
  const script = buildTableSkeemaScript(
    { database: databaseName(job.dbId), table: job.table, definition, tempSchema: tempSchemaName(), allowUnsafe },
    mode,
  );
  const result = await run(stage, script);
  const out = parseTableScript(result);
  if (out.outcome === 'clean' && out.definition !== undefined) return { ok: true, definition: out.definition, output: out.ddl, desired: out.desired };
  const definitionRead = out.definition ?? null;
  if (mode === 'diff' && out.outcome === 'differences') {
    return { ok: false, definition: definitionRead, kind: 'permanent', reason: `skeema diff is not clean after the push: ${out.ddl || 'differences remain'}` };
  }
  if (out.outcome === 'partial-error') {
    const skipped = result.stderr.split('\n').filter((l) => PARTIAL_ERROR.test(l)).map((l) => l.replace(/^\S+ \S+ \[WARN\]\s*/, '').trim());
    return { ok: false, definition: definitionRead, kind: 'permanent', reason: `Skeema skipped what it cannot change: ${skipped.join('; ')}`.slice(0, 1000) };
  }
  return { ok: false, definition: definitionRead, ...classify(result) };
}
