import parserModule from 'node-sql-parser/build/mariadb.js';
import { ProhibitedError, ValidationError } from './errors.ts';
import { findProhibited } from './sql-guard.ts';
import { checkTableTokens, type Finding, type Rule } from './table-tokens.ts';

// The MariaDB grammar alone: the package's default build holds every dialect and takes seconds to
// load, which a statement judge's worker pays at each start.
const parser = new parserModule.Parser();

/** Runs one statement's check (the `index`-th, from 1): a judge bounds each one's time this way. */
export type EachStatement = <T>(index: number, check: () => T) => T;
/** Each check run as it is, with no bound on its time. */
export const UNBOUNDED: EachStatement = (_index, check) => check();

export const MAX_STATEMENTS = 50;

export interface TableDefinition {
  table: string;
  /** The statement as sent, without its semicolon: the desired state of the table. */
  sql: string;
}

export interface StatementVerdict {
  index: number;
  table: string | null;
  valid: boolean;
  reason?: string;
  /** prohibited (403) or malformed (400) */
  kind?: 'prohibited' | 'invalid';
  /** The rule the statement broke (table-tokens.ts Rule). */
  rule?: Rule;
}

/** A statement of the request and where it starts in the request's text. */
interface Statement {
  sql: string;
  at: number;
}

/**
 * Splits a request's SQL into statements at semicolons outside quotes, refusing SQL comments
 * (they can hide text from a reader) and reporting where a statement lacks its semicolon.
 * `problem.index` is the statement it concerns; `problem.at` where in the text.
 */
export function splitStatements(text: string): { statements: Statement[]; problem?: Finding & { index: number } } {
  const statements: Statement[] = [];
  let start = 0;
  let quote: string | null = null;
  const cut = (end: number) => {
    const raw = text.slice(start, end);
    const lead = raw.length - raw.trimStart().length;
    statements.push({ sql: raw.trim(), at: start + lead });
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    const next = text[i + 1];
    if (quote) {
      if (ch === '\\' && quote !== '`' && next !== undefined) i++;
      else if (ch === quote) {
        if (next === quote) i++;
        else quote = null;
      }
    } else if (ch === "'" || ch === '"' || ch === '`') {
      quote = ch;
    } else if (ch === '#' || (ch === '-' && next === '-') || (ch === '/' && next === '*')) {
      return { statements, problem: { index: statements.length + 1, kind: 'prohibited', rule: 'comment', reason: 'SQL comments are not allowed', at: i } };
    } else if (ch === ';') {
      cut(i);
      start = i + 1;
    }
  }
  if (quote) return { statements, problem: { index: statements.length + 1, kind: 'invalid', rule: 'syntax', reason: 'unterminated quoted string or identifier', at: text.lastIndexOf(quote) } };
  if (text.slice(start).trim() !== '') {
    cut(text.length);
    const index = statements.length;
    return { statements, problem: { index, kind: 'invalid', rule: 'syntax', reason: `statement ${index} must end with a semicolon`, at: text.trimEnd().length } };
  }
  return { statements };
}

/**
 * M0's rules: every statement is one CREATE TABLE (the desired state of a table in the caller's
 * database) ending with one semicolon, that stays inside its own table (table-tokens.ts). Where
 * node-sql-parser reads a statement, the /query rules also walk its every expression; where it
 * cannot, the server judges the syntax when the job runs.
 * Throws ProhibitedError (403) or ValidationError (400) with a verdict per statement; the message
 * names the statement whose verdict decided the status, its rule and where the token check found
 * the problem (line, column of the request's text).
 * Each statement's check runs through `each` with its index (a judge's budget is per statement).
 */
export function validateMigrationSql(text: string, each: EachStatement = UNBOUNDED): TableDefinition[] {
  const { statements, problem } = splitStatements(text);
  if (problem) {
    const { index, at, ...finding } = problem;
    refuseWith([{ index, table: null, valid: false, ...finding, reason: withPosition(finding, text, at) }]);
  }
  if (statements.length === 0) throw new ValidationError('Invalid migration: no statement');
  if (statements.length > MAX_STATEMENTS) throw new ValidationError(`Invalid migration: at most ${MAX_STATEMENTS} statements per request`);

  const verdicts: StatementVerdict[] = [];
  const definitions: TableDefinition[] = [];
  const seen = new Set<string>();
  statements.forEach(({ sql, at }, i) => {
    const index = i + 1;
    const checked = each(index, () => checkStatement(sql));
    if ('reason' in checked) {
      const { at: offset, ...finding } = checked;
      verdicts.push({ index, table: null, valid: false, ...finding, reason: withPosition(finding, text, offset === undefined ? undefined : at + offset) });
      return;
    }
    const key = checked.table.toLowerCase();
    if (seen.has(key)) {
      verdicts.push({ index, table: checked.table, valid: false, kind: 'invalid', rule: 'duplicate', reason: `table ${checked.table} is defined twice` });
      return;
    }
    seen.add(key);
    verdicts.push({ index, table: checked.table, valid: true });
    definitions.push({ table: checked.table, sql });
  });
  if (verdicts.some((v) => !v.valid)) refuseWith(verdicts);
  return definitions;
}

/** 403 if any statement is prohibited, else 400; the message names that statement (the first of its kind). */
function refuseWith(verdicts: StatementVerdict[]): never {
  const prohibited = verdicts.find((v) => v.kind === 'prohibited');
  const named = prohibited ?? verdicts.find((v) => !v.valid)!;
  const Err = prohibited ? ProhibitedError : ValidationError;
  throw new Err(`Invalid migration: statement ${named.index} (${named.rule}): ${named.reason}`, { statements: verdicts });
}

/** A finding's reason with its line and column in the request's text, where it has one. */
function withPosition(finding: Finding, text: string, at: number | undefined): string {
  if (at === undefined) return finding.reason;
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return `${finding.reason} (line ${line}, column ${at - before.lastIndexOf('\n')})`;
}

function checkStatement(sql: string): { table: string } | Finding {
  if (sql === '') return { kind: 'invalid', rule: 'statement', reason: 'empty statement (each statement ends with exactly one semicolon)' };
  const checked = checkTableTokens(sql);
  if ('reason' in checked) return checked;
  let ast: unknown;
  try {
    ast = parser.astify(sql, { database: 'MariaDB' });
  } catch {
    // Outside the parser's grammar (or too deep for it): the tokens said it is safe, the server judges its syntax.
    return checked;
  }
  // DEFAULT, CHECK, generated and partition expressions run on the server as the admin: the /query
  // rules, with no other database and no variables at all (the validator does not know the database's name).
  const refused = findProhibited(ast, { ownDatabase: '', userVariables: false });
  if (refused) return { kind: 'prohibited', rule: 'expression', reason: `${refused} is not allowed in a migration` };
  return refusedTableOption(ast) ?? checked;
}

/**
 * The table options the parser read, checked again: where a table's files are and which engine
 * keeps them matter most, so a misreading of the token check must not be enough to pass them.
 */
function refusedTableOption(ast: unknown): Finding | undefined {
  const options = (ast as { table_options?: Array<{ keyword?: unknown; value?: unknown }> } | null)?.table_options ?? [];
  for (const o of options) {
    const keyword = String(o.keyword ?? '').toUpperCase();
    const value = String(o.value ?? '').replace(/^['"]|['"]$/g, '').toUpperCase();
    if (keyword === 'ENGINE' && value !== 'INNODB') return { kind: 'prohibited', rule: 'engine', reason: `ENGINE=${value} is not allowed (tables are InnoDB, in the database's own directory)` };
    if (keyword === 'DATA DIRECTORY' || keyword === 'INDEX DIRECTORY') return { kind: 'prohibited', rule: 'file-location', reason: `${keyword} is not allowed (tables are InnoDB, in the database's own directory)` };
    if (keyword === 'CONNECTION') return { kind: 'prohibited', rule: 'connection', reason: 'CONNECTION is not allowed (a table stays on its own server)' };
  }
  return undefined;
}
