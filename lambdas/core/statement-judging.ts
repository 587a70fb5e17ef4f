import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { BusyError, ProhibitedError, ValidationError } from './errors.ts';
import { type EachStatement, type StatementVerdict, type TableDefinition, validateMigrationSql } from './migration-sql.ts';
import type { JudgeOutcome, JudgeRefusal, JudgeTask, JudgeVerdict, StatementJudge } from './ports.ts';
import { checkTenantStatement, type GuardedStatement, scanSql, SqlRefusedError } from './sql-guard.ts';

/**
 * Validation with bounded cost. The validators' parse time depends on the statement's shape (some
 * nestings make node-sql-parser backtrack for seconds), so the request path never runs them itself:
 * a StatementJudge runs judgeTask where it can be stopped, and its verdicts, refusals included,
 * are cached here so a repeated statement costs a lookup.
 */

/**
 * Runs one task where it is judged (a worker thread): the pure validators, refusals as data. Each
 * statement's check runs through `each` (the worker bounds its time there); what `each` throws
 * passes through.
 */
export function judgeTask(task: JudgeTask, each: EachStatement): JudgeOutcome {
  try {
    if (task.kind === 'query') return { kind: 'statement', statement: each(1, () => checkTenantStatement(task.sql, task.database)) };
    return { kind: 'tables', tables: validateMigrationSql(task.text, each) };
  } catch (error) {
    if (error instanceof SqlRefusedError) return { kind: 'refused', refusal: { error: 'sql', code: error.code, message: error.message } };
    if (error instanceof ProhibitedError) return { kind: 'refused', refusal: { error: 'prohibited', message: error.message, details: error.details } };
    if (error instanceof ValidationError) return { kind: 'refused', refusal: { error: 'invalid', message: error.message, details: error.details } };
    throw error;
  }
}

const TOO_COSTLY = 'statement is too costly to validate (its validation ran out of its time budget)';
/** A refusal for cost may come from a moment of contention: it is kept for a while, not for ever. */
const OVER_BUDGET_TTL_MS = 60_000;
/** Statements longer than this are cached under their hash (the key stays small). */
const LITERAL_KEY_CHARS = 4096;

type Known = { statement: GuardedStatement } | { refusal: JudgeRefusal };
// Applications repeat their statements (params change, the text does not): a verdict depends on
// nothing but the text and the database, so it is computed once per process.
const queryVerdicts = new LRUCache<string, Known>({ max: 5000 });
/** /migrate texts are one-off submissions: only their refusals are worth keeping. */
const migrationRefusals = new LRUCache<string, JudgeRefusal>({ max: 1000 });

/**
 * /query's validator: the cached verdict of `sql` in `database`, else the judge's (a refusal throws
 * SqlRefusedError, 403). Primary course: look the text up; refuse what the linear scan already
 * refuses; hand the rest to the judge; remember its answer, a refusal for cost included.
 */
export async function guardTenantStatement(sql: string, database: string, tenantId: string, judge: StatementJudge): Promise<GuardedStatement> {
  const key = cacheKey(`${database}\u0000${sql}`);
  const known = queryVerdicts.get(key) ?? (await judgeQuery(sql, database, tenantId, judge, key));
  if ('statement' in known) return known.statement;
  throw errorOf(known.refusal);
}

async function judgeQuery(sql: string, database: string, tenantId: string, judge: StatementJudge, key: string): Promise<Known> {
  // The scan is linear in the text and refuses the shapes known to be costly without a worker.
  const problem = scanSql(sql).problem;
  if (problem) return remember(queryVerdicts, key, { refusal: { error: 'sql', code: problem.code, message: problem.message } });
  const verdict = await judge.judge(tenantId, { kind: 'query', sql, database });
  switch (verdict.kind) {
    case 'statement':
      return remember(queryVerdicts, key, { statement: Object.freeze(verdict.statement) });
    case 'refused':
      return remember(queryVerdicts, key, { refusal: verdict.refusal });
    case 'over-budget':
      return remember(queryVerdicts, key, { refusal: { error: 'sql', code: 'PARSE', message: `SQL could not be parsed: ${TOO_COSTLY}` } }, OVER_BUDGET_TTL_MS);
    default:
      return unexpected(verdict);
  }
}

/**
 * /migrate's validator (validateMigrationSql) run by the judge: the table definitions, or its
 * ProhibitedError/ValidationError with a verdict per statement. Refusals are remembered.
 */
export async function judgeMigrationSql(text: string, tenantId: string, judge: StatementJudge): Promise<TableDefinition[]> {
  const key = createHash('sha256').update(text).digest('base64');
  const known = migrationRefusals.get(key);
  if (known) throw errorOf(known);
  const verdict = await judge.judge(tenantId, { kind: 'migration', text });
  switch (verdict.kind) {
    case 'tables':
      return verdict.tables;
    case 'refused':
      throw errorOf(remember(migrationRefusals, key, verdict.refusal));
    case 'over-budget': {
      const statement: StatementVerdict = { index: verdict.step, table: null, valid: false, kind: 'prohibited', rule: 'cost', reason: TOO_COSTLY };
      const refusal: JudgeRefusal = { error: 'prohibited', message: `Invalid migration: statement ${verdict.step} (cost): ${TOO_COSTLY}`, details: { statements: [statement] } };
      throw errorOf(remember(migrationRefusals, key, refusal, OVER_BUDGET_TTL_MS));
    }
    default:
      return unexpected(verdict);
  }
}

function unexpected(verdict: JudgeVerdict): never {
  if (verdict.kind === 'busy') throw new BusyError('Too many statements of this tenant waiting for validation, try again', { code: 'VALIDATOR_BUSY' });
  if (verdict.kind === 'starved') throw new BusyError('The validator is busy, try again', { code: 'VALIDATOR_BUSY' });
  throw new Error(`statement judge answered ${verdict.kind} to the wrong task`);
}

function remember<V extends {}>(cache: LRUCache<string, V>, key: string, value: V, ttl?: number): V {
  cache.set(key, value, ttl ? { ttl } : undefined);
  return value;
}

function cacheKey(text: string): string {
  return text.length <= LITERAL_KEY_CHARS ? text : `#${createHash('sha256').update(text).digest('base64')}`;
}

/** A fresh error per answer (its stack is this request's), from a refusal kept as data. */
function errorOf(refusal: JudgeRefusal): Error {
  switch (refusal.error) {
    case 'sql':
      return new SqlRefusedError(refusal.message, refusal.code);
    case 'prohibited':
      return new ProhibitedError(refusal.message, refusal.details);
    case 'invalid':
      return new ValidationError(refusal.message, refusal.details);
  }
}
