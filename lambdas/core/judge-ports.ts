/** The statement judge's port: validation on terminable workers, under a time budget per statement. */
import type { TableDefinition } from './migration-sql.ts';
import type { GuardedStatement } from './sql-guard.ts';

/** What a statement judge runs (core/statement-judging.ts judgeTask): plain data, it crosses threads. */
export type JudgeTask = { kind: 'query'; sql: string; database: string } | { kind: 'migration'; text: string };

/** A refusal as data: `sql` is a /query SqlRefusedError, the others a /migrate error with its verdicts. */
export type JudgeRefusal =
  | { error: 'sql'; code: 'PROHIBITED' | 'PARSE'; message: string }
  | { error: 'prohibited' | 'invalid'; message: string; details?: Record<string, unknown> };

/** How a task ended where it ran. */
export type JudgeOutcome =
  | { kind: 'statement'; statement: GuardedStatement }
  | { kind: 'tables'; tables: TableDefinition[] }
  | { kind: 'refused'; refusal: JudgeRefusal };

export type JudgeVerdict =
  | JudgeOutcome
  /** Stopped past the budget (time, or the memory cap); `step`: the statement being judged then. */
  | { kind: 'over-budget'; step: number }
  /** The tenant already has as many tasks waiting as it may. */
  | { kind: 'busy' }
  /** Stopped at the budget having waited for a core most of it (a loaded host): nothing is known of the statement. */
  | { kind: 'starved' };

/**
 * Runs validation where it can be stopped: within a time budget per statement, never on the thread
 * serving other tenants, one task per tenant at a time, tenants served in turn.
 */
export interface StatementJudge {
  judge(tenantId: string, task: JudgeTask): Promise<JudgeVerdict>;
}
