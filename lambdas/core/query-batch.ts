import { OctoError, ValidationError } from './errors.ts';
import {
  errorClass,
  isGrowing,
  type QueryCaller,
  type QueryDeps,
  queryRecord,
  type QueryResult,
  resultOf,
  sendLogs,
  type StatementInput,
  validateStatement,
} from './query.ts';
import type { BatchStep, QueryLogRecord } from './ports.ts';
import type { StatementType } from './sql-guard.ts';

export interface BatchInput extends QueryCaller {
  statements: StatementInput[];
  /** All or nothing: one transaction, committed only when every statement succeeded. */
  transaction: boolean;
}

export interface BatchSettings {
  /** OCTODB_QUERY_BATCH_MAX_STATEMENTS. */
  maxStatements: number;
}

/**
 * One statement of a batch failed: its own status and body, named by its index (`statement`).
 * In a transaction nothing the batch did stays (`rolled_back: true`); without one, the statements
 * before it stay done and their `results` come with the error.
 */
export class BatchStatementError extends OctoError {
  readonly status: number;
  override readonly retryAfterSeconds?: number;
  constructor(
    readonly index: number,
    failure: OctoError,
    extra: Record<string, unknown> = {},
  ) {
    super(`statements[${index}]: ${failure.message}`, { ...failure.details, statement: index, ...extra }, { cause: failure });
    this.status = failure.status;
    this.retryAfterSeconds = failure.retryAfterSeconds;
  }
}

/**
 * POST /query with `statements`: several statements on one connection of the caller's own MySQL
 * user, in one transaction when asked. Primary course: validate every statement exactly as a
 * single /query (nothing runs unless all pass; a refusal names its index); resolve the login; refuse
 * the batch if it writes and its tenant is over quota; run them in order, stopping at the first
 * failure (a transaction is then rolled back); log one record per statement that ran; answer one
 * result per statement.
 */
export async function runTenantBatch(input: BatchInput, deps: QueryDeps & { batch: BatchSettings }): Promise<{ results: QueryResult[] }> {
  const { statements, transaction } = input;
  if (statements.length > deps.batch.maxStatements) {
    const problem = `statements must hold at most ${deps.batch.maxStatements} statements`;
    throw new ValidationError(`Invalid request: statements: ${problem}`, { problems: [{ field: 'statements', problem }] });
  }
  const started = performance.now();
  const types: StatementType[] = [];
  /** Nothing ran: one record, for the statement the refusal names (none: about the whole batch, answered as a single /query's). */
  const refuse = async (error: unknown, index?: number): Promise<never> => {
    await sendLogs(deps.logs, [queryRecord(input, types[index ?? -1] ?? 'OTHER', performance.now() - started, 0, errorClass(error))]);
    throw index !== undefined && error instanceof OctoError ? new BatchStatementError(index, error) : error;
  };
  for (const [index, statement] of statements.entries()) {
    types.push(await validateStatement(input, statement, deps.judge).catch((error: unknown) => refuse(error, index)));
  }
  const login = await deps.tenantLogins.resolve(input.tenantId, input.dbId).catch((error: unknown) => refuse(error));
  const firstGrowing = types.findIndex(isGrowing);
  if (firstGrowing >= 0) await deps.quotas.assertCanWrite(input.tenantId, input.dbId, login).catch((error: unknown) => refuse(error, firstGrowing));

  const { steps, commitError } = await deps.tenantSql
    .runBatch(login, statements.map((s) => ({ sql: s.query, params: s.params })), { transaction, writes: types.some((t) => t !== 'SELECT') })
    .catch((error: unknown) => refuse(error));
  const records: QueryLogRecord[] = steps.map((step, i) =>
    'error' in step ? queryRecord(input, types[i]!, step.durationMs, 0, errorClass(step.error)) : queryRecord(input, types[i]!, step.durationMs, step.result.affectedRows),
  );
  if (commitError) records.push(queryRecord(input, 'OTHER', 0, 0, errorClass(commitError)));
  await sendLogs(deps.logs, records);

  const results: QueryResult[] = [];
  for (const [i, step] of steps.entries()) {
    if ('error' in step) {
      if (!transaction && wrote(steps.slice(0, i), types)) await deps.quotas.noteWrite(input.tenantId, input.dbId, login);
      throw new BatchStatementError(i, step.error, transaction ? { rolled_back: true } : { results });
    }
    results.push(resultOf(types[i]!, step.result));
  }
  if (commitError) throw commitError;
  if (wrote(steps, types)) await deps.quotas.noteWrite(input.tenantId, input.dbId, login);
  return { results };
}

/** Some write of these (done) steps changed rows: the database is measured again (debounced). */
function wrote(steps: BatchStep[], types: StatementType[]): boolean {
  return steps.some((step, i) => types[i] !== 'SELECT' && 'result' in step && step.result.affectedRows > 0);
}
