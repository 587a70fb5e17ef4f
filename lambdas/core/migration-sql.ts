import parserModule from 'node-sql-parser/build/mariadb.js';
import { ProhibitedError, ValidationError } from './errors.ts';
import { SQL_IDENTIFIER } from './patterns.ts';
import { findProhibited } from './sql-guard.ts';

// The MariaDB grammar alone: the package's default build holds every dialect and takes seconds to
// load, which a statement judge's worker pays at each start.
const parser = new parserModule.Parser();

export const MAX_STATEMENTS = 50;

export interface TableDefinition {
  table: string;
  /** The statement as sent, without its semicolon: the desired state of the table. */
  sql: string;
  columns: string[];
}

export interface StatementVerdict {
  index: number;
  table: string | null;
  valid: boolean;
  reason?: string;
  /** prohibited (403) or malformed (400) */
  kind?: 'prohibited' | 'invalid';
}

type Finding = { kind: 'prohibited' | 'invalid'; reason: string };

/**
 * Splits a request's SQL into statements at semicolons outside quotes, refusing SQL comments
 * (they can hide text from a reader) and reporting where a statement lacks its semicolon.
 */
export function splitStatements(text: string): { statements: string[]; problems: Finding[] } {
  const statements: string[] = [];
  const problems: Finding[] = [];
  let current = '';
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    const next = text[i + 1];
    if (quote) {
      current += ch;
      if (ch === '\\' && quote !== '`' && next !== undefined) {
        current += next;
        i++;
      } else if (ch === quote) {
        if (next === quote) {
          current += next;
          i++;
        } else quote = null;
      }
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') {
      quote = ch;
      current += ch;
    } else if (ch === '#' || (ch === '-' && next === '-') || (ch === '/' && next === '*')) {
      problems.push({ kind: 'prohibited', reason: 'SQL comments are not allowed' });
      return { statements, problems };
    } else if (ch === ';') {
      statements.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (quote) problems.push({ kind: 'invalid', reason: 'unterminated quoted string or identifier' });
  else if (current.trim() !== '') {
    statements.push(current.trim());
    problems.push({ kind: 'invalid', reason: `statement ${statements.length} must end with a semicolon` });
  }
  return { statements, problems };
}

/**
 * M0's rules: every statement is one CREATE TABLE (the desired state of a table in the caller's
 * database) ending with one semicolon. Refused: any other statement, comments, nested SELECT or
 * EXECUTE, CREATE … SELECT / LIKE, temporary tables, other databases, invalid names.
 * Throws ProhibitedError (403) or ValidationError (400) with a verdict per statement.
 * `onStatement` hears each statement's index before it is judged (a judge's budget is per statement).
 */
export function validateMigrationSql(text: string, onStatement?: (index: number) => void): TableDefinition[] {
  const { statements, problems } = splitStatements(text);
  if (problems.length > 0) {
    const [p] = problems;
    const Err = p!.kind === 'prohibited' ? ProhibitedError : ValidationError;
    throw new Err(`Invalid migration: ${p!.reason}`, { statements: [{ index: statements.length + 1, table: null, valid: false, reason: p!.reason, kind: p!.kind }] });
  }
  if (statements.length === 0) throw new ValidationError('Invalid migration: no statement');
  if (statements.length > MAX_STATEMENTS) throw new ValidationError(`Invalid migration: at most ${MAX_STATEMENTS} statements per request`);

  const verdicts: StatementVerdict[] = [];
  const definitions: TableDefinition[] = [];
  const seen = new Set<string>();
  statements.forEach((sql, i) => {
    const index = i + 1;
    onStatement?.(index);
    const checked = checkStatement(sql);
    if ('reason' in checked) {
      verdicts.push({ index, table: null, valid: false, ...checked });
      return;
    }
    const key = checked.table.toLowerCase();
    if (seen.has(key)) {
      verdicts.push({ index, table: checked.table, valid: false, kind: 'invalid', reason: `table ${checked.table} is defined twice` });
      return;
    }
    seen.add(key);
    verdicts.push({ index, table: checked.table, valid: true });
    definitions.push(checked);
  });
  const bad = verdicts.filter((v) => !v.valid);
  if (bad.length > 0) {
    const Err = bad.some((v) => v.kind === 'prohibited') ? ProhibitedError : ValidationError;
    throw new Err(`Invalid migration: statement ${bad[0]!.index}: ${bad[0]!.reason}`, { statements: verdicts });
  }
  return definitions;
}

function checkStatement(sql: string): TableDefinition | Finding {
  if (sql === '') return { kind: 'invalid', reason: 'empty statement (each statement ends with exactly one semicolon)' };
  const words = keywordsOutsideQuotes(sql);
  for (const word of ['SELECT', 'EXECUTE', 'PREPARE', 'CALL']) {
    if (words.has(word)) return { kind: 'prohibited', reason: `${word} is not allowed in a migration` };
  }
  const first = /^\s*(\w+)(?:\s+(\w+))?/.exec(sql);
  const verb = first?.[1]?.toUpperCase();
  if (verb !== 'CREATE') return { kind: 'prohibited', reason: `only CREATE TABLE is allowed, not ${verb ?? 'this statement'}` };
  if (first?.[2]?.toUpperCase() !== 'TABLE') {
    return { kind: 'prohibited', reason: `only CREATE TABLE is allowed, not CREATE ${first?.[2]?.toUpperCase() ?? ''}`.trim() };
  }

  let ast: unknown;
  try {
    ast = parser.astify(sql, { database: 'MariaDB' });
  } catch (error) {
    return { kind: 'invalid', reason: `syntax error: ${(error as Error).message.slice(0, 300)}` };
  }
  const list = Array.isArray(ast) ? ast : [ast];
  if (list.length !== 1) return { kind: 'invalid', reason: 'exactly one statement per semicolon' };
  const node = list[0] as CreateAst;
  if (node.type !== 'create' || node.keyword !== 'table') return { kind: 'prohibited', reason: 'only CREATE TABLE is allowed' };
  if (node.temporary) return { kind: 'prohibited', reason: 'temporary tables are not allowed' };
  if (node.like) return { kind: 'prohibited', reason: 'CREATE TABLE … LIKE is not allowed' };
  if (node.query_expr || node.as) return { kind: 'prohibited', reason: 'CREATE TABLE … SELECT is not allowed' };
  if (node.if_not_exists) return { kind: 'invalid', reason: 'IF NOT EXISTS has no meaning in a declarative table definition' };
  if (node.ignore_replace) return { kind: 'prohibited', reason: `${String(node.ignore_replace).toUpperCase()} is not allowed` };
  const option = refusedTableOption(node.table_options ?? []);
  if (option) return { kind: 'prohibited', reason: `${option} is not allowed (tables are InnoDB, in the database's own directory)` };
  const target = node.table?.[0];
  if (!target || node.table!.length !== 1) return { kind: 'invalid', reason: 'one table per statement' };
  if (target.db) return { kind: 'prohibited', reason: 'a migration may only name tables of your own database' };
  if (!SQL_IDENTIFIER.test(target.table)) {
    return { kind: 'invalid', reason: `invalid table name ${JSON.stringify(target.table)} (letters, digits, _; starts with a letter; ≤ 64)` };
  }
  if (containsNode(node.create_definitions, (n) => n.type === 'select')) return { kind: 'prohibited', reason: 'nested SELECT is not allowed' };
  if (containsNode(node.create_definitions, (n) => n.table !== undefined && Array.isArray(n.table) && n.table.some((t: { db?: unknown }) => t?.db))) {
    return { kind: 'prohibited', reason: 'a migration may only reference tables of your own database' };
  }
  // DEFAULT, CHECK and generated expressions run on the server as the admin: the /query rules,
  // with no other database and no variables at all (the validator does not know the database's name).
  const refused = findProhibited(node, { ownDatabase: '', userVariables: false });
  if (refused) return { kind: 'prohibited', reason: `${refused} is not allowed in a migration` };
  const columns: string[] = [];
  for (const def of node.create_definitions ?? []) {
    if (def.resource !== 'column') continue;
    const name = columnName(def.column);
    if (!name || !SQL_IDENTIFIER.test(name)) {
      return { kind: 'invalid', reason: `invalid column name ${JSON.stringify(name)} (letters, digits, _; starts with a letter; ≤ 64)` };
    }
    if (columns.some((c) => c.toLowerCase() === name.toLowerCase())) return { kind: 'invalid', reason: `column ${name} is defined twice` };
    columns.push(name);
  }
  if (columns.length === 0) return { kind: 'invalid', reason: 'a table needs at least one column' };
  const badName = invalidName(sql, node.create_definitions);
  if (badName !== undefined) {
    return { kind: 'invalid', reason: `invalid name ${JSON.stringify(badName)} (letters, digits, _; starts with a letter; ≤ 64)` };
  }
  return { table: target.table, sql, columns };
}

interface CreateAst {
  type?: string;
  keyword?: string;
  temporary?: unknown;
  like?: unknown;
  query_expr?: unknown;
  as?: unknown;
  if_not_exists?: unknown;
  ignore_replace?: unknown;
  table?: Array<{ db: string | null; table: string }>;
  create_definitions?: Array<{ resource?: string; column?: unknown }>;
  table_options?: Array<{ keyword?: string; value?: unknown }>;
}

/**
 * Table options that reach outside the table's own InnoDB files: another server (FEDERATED,
 * SPIDER, CONNECTION=), files of the host (CONNECT, CSV, DATA/INDEX DIRECTORY). Any engine but
 * InnoDB is refused: the others lose rows on restart (MEMORY) or are not crash-safe (MyISAM), and
 * rollback and the cascade's verify → ALTER → verify assume InnoDB.
 */
function refusedTableOption(options: NonNullable<CreateAst['table_options']>): string | undefined {
  for (const o of options) {
    const keyword = String(o.keyword ?? '').toUpperCase();
    if (keyword === 'ENGINE' && String(o.value).toUpperCase() !== 'INNODB') return `ENGINE=${String(o.value).toUpperCase()}`;
    if (['DATA DIRECTORY', 'INDEX DIRECTORY', 'CONNECTION'].includes(keyword)) return keyword;
  }
  return undefined;
}

function columnName(column: unknown): string | undefined {
  const c = column as { column?: unknown } | undefined;
  if (typeof c?.column === 'string') return c.column;
  const expr = (c?.column as { expr?: { value?: unknown } } | undefined)?.expr?.value;
  return typeof expr === 'string' ? expr : undefined;
}

/** Strings and backquoted names, as MySQL quotes them. */
const QUOTED = /'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|`(?:[^`]|``)*`/g;

/**
 * The first name that is not an SQL_IDENTIFIER (patterns.ts): index and constraint names in the AST, and every
 * backquoted name in the text (whatever the parser calls it), so no name carries a newline or
 * other text into host scripts or their output. Unquoted names outside ASCII are refused too.
 */
function invalidName(sql: string, definitions: unknown): string | undefined {
  const names: string[] = [];
  const stack: unknown[] = [definitions];
  while (stack.length) {
    const node = stack.pop();
    if (!node || typeof node !== 'object') continue;
    const n = node as Record<string, unknown>;
    for (const key of ['index', 'constraint']) if (typeof n[key] === 'string') names.push(n[key] as string);
    stack.push(...Object.values(n));
  }
  for (const token of sql.match(QUOTED) ?? []) {
    if (token.startsWith('`')) names.push(token.slice(1, -1).replace(/``/g, '`'));
  }
  const bare = sql.replace(QUOTED, ' ');
  const foreign = /[^\x00-\x7f]+/.exec(bare)?.[0];
  if (foreign !== undefined) return foreign;
  return names.find((name) => !SQL_IDENTIFIER.test(name));
}

// biome-ignore lint: a generic AST walk
function containsNode(value: unknown, test: (node: any) => boolean): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (!Array.isArray(value) && test(value)) return true;
  return Object.values(value as Record<string, unknown>).some((v) => containsNode(v, test));
}

/**
 * Upper-cased bare words outside quotes: keywords that must not appear anywhere in a statement.
 * A word runs over letters, digits, `_` and `$` as an unquoted identifier does, so a column
 * `call2` is the word CALL2, not CALL.
 */
function keywordsOutsideQuotes(sql: string): Set<string> {
  const bare = sql.replace(QUOTED, ' ');
  return new Set((bare.match(/[A-Za-z0-9_$]+/g) ?? []).map((w) => w.toUpperCase()));
}
