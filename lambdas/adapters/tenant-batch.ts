import { type OctoError, QueryTimeoutError, ValidationError } from '#core/errors';
import type { BatchOutcome, BatchStatement, BatchStep } from '#core/ports';
import { isSqlError, mapError, type StatementBounds } from './tenant-sql-errors.ts';
import { runStatement, type TenantSlot, unanswered, untilLost, within } from './tenant-statement.ts';

export interface BatchLimits extends StatementBounds {
  /** Rows all the batch's SELECTs return together at most (the single statement's row limit). */
  rowLimit: number;
  /** JSON bytes of all the batch's rows together at most (the single statement's budget). */
  maxResultBytes: number;
  /** Each statement's own time limit (`timeoutMs`: the server's, then the watchdog's after `graceMs`). */
  graceMs: number;
  /** All the statements together: past it the running statement is stopped (BATCH_TIMEOUT). */
  batchTimeoutMs: number;
}

/**
 * START TRANSACTION, COMMIT and ROLLBACK answer within this, else the connection is given up
 * (a COMMIT that did not answer: its outcome is unknown, 503). Short, so that a whole batch with
 * its waits stays inside the API function's 20 s.
 */
export const CONTROL_MS = 1000;

/**
 * A batch on one held connection (MysqlTenantSqlRunner.runBatch acquires, switches and releases
 * it). Primary course: START TRANSACTION if asked; each statement in turn under what is left of the
 * shared row and byte budgets and of the batch's time; stop at the first failure; COMMIT when all
 * succeeded, else ROLLBACK. A SELECT past the rows left has the rest of its rows (at most the row
 * limit, the session's sql_select_limit) read and dropped within the byte budget, so no SET round
 * trip is needed per statement and the connection stays usable. Whatever leaves
 * the session unknown (a lost connection, a statement stopped by the watchdog, a control statement
 * that failed) marks the connection dead: it is closed, so the server rolls back what was open,
 * and it never goes back to the pool mid-transaction.
 */
export async function runBatchOn(
  slot: TenantSlot,
  statements: BatchStatement[],
  transaction: boolean,
  limits: BatchLimits,
  overran: (threadId: number | null) => void,
): Promise<BatchOutcome> {
  const started = performance.now();
  const leftMs = () => limits.batchTimeoutMs - (performance.now() - started);
  const batchTimeout = () => new QueryTimeoutError(limits.batchTimeoutMs, 'BATCH_TIMEOUT');
  const control = (sql: string) => untilLost(slot, within(slot.conn.query(sql), CONTROL_MS, () => unanswered(sql)));
  let rowsLeft = limits.rowLimit;
  let bytesLeft = limits.maxResultBytes;
  const steps: BatchStep[] = [];
  const fail = (error: unknown, since: number) => {
    // A statement MySQL refused leaves the session sound; anything else may not.
    if (!isSqlError(error)) slot.dead = true;
    steps.push({ error: mapError(error, limits), durationMs: performance.now() - since });
  };

  if (transaction) {
    try {
      await control('START TRANSACTION');
    } catch (error) {
      slot.dead = true;
      throw mapError(error, limits);
    }
  }
  for (const [index, statement] of statements.entries()) {
    const since = performance.now();
    if (leftMs() <= 0) {
      steps.push({ error: batchTimeout(), durationMs: 0 });
      break;
    }
    try {
      const { timeoutMs, graceMs } = limits;
      const { bytes, ...result } = await runStatement(
        slot,
        statement.sql,
        statement.params,
        { rowLimit: rowsLeft, maxResultBytes: bytesLeft, timeoutMs, graceMs, batchEnd: { leftMs: leftMs(), error: batchTimeout }, dropPastRowLimit: true },
        overran,
      );
      // Rows cut by closing the connection (past the byte budget): only the last statement of a
      // batch without a transaction can end that way.
      if (slot.dead && (transaction || index < statements.length - 1)) throw resultTooLarge(limits);
      rowsLeft -= result.rows.length;
      bytesLeft -= bytes;
      steps.push({ result, durationMs: performance.now() - since });
    } catch (error) {
      fail(error, since);
      break;
    }
  }
  const failed = steps.some((step) => 'error' in step);
  let commitError: OctoError | undefined;
  if (transaction && !slot.dead) {
    try {
      await control(failed ? 'ROLLBACK' : 'COMMIT');
    } catch (error) {
      slot.dead = true;
      if (!failed) commitError = mapError(error, limits);
    }
  }
  return commitError ? { steps, commitError } : { steps };
}

const resultTooLarge = (limits: BatchLimits) =>
  new ValidationError(
    `Query failed: its rows pass what is left of the batch's byte budget (${limits.maxResultBytes} bytes of JSON for all its statements together, ` +
      'rows read past the row limit included); select fewer rows or columns, or send it in a request of its own',
    { code: 'RESULT_TOO_LARGE' },
  );
