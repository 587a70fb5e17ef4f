import { SQL_IDENTIFIER } from './patterns.ts';
import { closingQuote, isWordChar, MAX_NESTING, PROHIBITED_FUNCTIONS } from './sql-guard.ts';

/**
 * The /migrate safety rules read from tokens, in one linear pass, for any CREATE TABLE the server
 * may accept: node-sql-parser's grammar knows only part of it (`status` as a column name,
 * PARTITION BY HASH, WITH SYSTEM VERSIONING, application-time periods are parse errors), so a
 * statement's safety cannot hang on its parse. Conservative: what it cannot read as safe is refused;
 * what it reads as safe but is not valid SQL is the server's to refuse (with its own error).
 */

/**
 * The rules a statement may break, named in its verdict so a client can tell them apart:
 * statement (only CREATE TABLE, one per semicolon), comment, syntax (what the token check must read
 * and cannot), temporary, query (SELECT, LIKE, subqueries, EXECUTE), engine (InnoDB only),
 * file-location (DATA/INDEX DIRECTORY, TABLESPACE), connection (another server), table-option (one
 * outside the safe list), other-database (qualified names), expression (functions that wait, read
 * files or hold locks; variables), name (identifiers a host script may carry), duplicate, cost
 * (validation past its bounds).
 */
export const RULES = [
  'statement', 'comment', 'syntax', 'temporary', 'query', 'engine', 'file-location', 'connection',
  'table-option', 'other-database', 'expression', 'name', 'duplicate', 'cost',
] as const;
export type Rule = (typeof RULES)[number];

export interface Finding {
  kind: 'prohibited' | 'invalid';
  rule: Rule;
  reason: string;
  /** Offset in the statement where the problem is, for syntax. */
  at?: number;
}

interface Token {
  type: 'word' | 'name' | 'string' | 'number' | 'punct';
  /**
   * A word upper-cased, a punctuation character, a number; a string or backquoted name as written,
   * quotes included, so that no quoted text ever reads as a keyword or a parenthesis.
   */
  text: string;
  /** A string's or a backquoted name's content, unescaped. */
  value?: string;
  at: number;
}

const NAME_RULE = '(letters, digits, _; starts with a letter; ≤ 64)';
/** Integers, exponents, hex and bit literals, sizes (AUTOEXTEND_SIZE=4M). */
const NUMBER = /^(?:\d+(?:[eE]\d*)?|\d+[KMGTkmgt]|0x[0-9A-Fa-f]+|0b[01]+)$/;
/** Words that make a statement read or run something else: a table is defined, not copied or computed. */
const QUERY_WORDS = new Set(['SELECT', 'EXECUTE', 'PREPARE', 'CALL', 'TABLE']);
/** The first word of a body item that is not a column. */
const NOT_COLUMN = new Set(['PRIMARY', 'KEY', 'INDEX', 'UNIQUE', 'FULLTEXT', 'SPATIAL', 'FOREIGN', 'CONSTRAINT', 'CHECK']);
/**
 * Table options that keep a table inside its own InnoDB files, each with one value. Anything else
 * is refused: reaching another server (CONNECTION), files of the host (DATA/INDEX DIRECTORY,
 * TABLESPACE), other engines' options (UNION, INSERT_METHOD), options this list does not know.
 */
const TABLE_OPTIONS = new Set([
  'ENGINE', 'AUTO_INCREMENT', 'AVG_ROW_LENGTH', 'CHARSET', 'COLLATE', 'CHECKSUM', 'TABLE_CHECKSUM', 'COMMENT',
  'COMPRESSION', 'KEY_BLOCK_SIZE', 'MAX_ROWS', 'MIN_ROWS', 'PACK_KEYS', 'ROW_FORMAT', 'STATS_AUTO_RECALC',
  'STATS_PERSISTENT', 'STATS_SAMPLE_PAGES', 'PAGE_CHECKSUM', 'PAGE_COMPRESSED', 'PAGE_COMPRESSION_LEVEL',
  'ENCRYPTED', 'ENCRYPTION', 'ENCRYPTION_KEY_ID', 'TRANSACTIONAL', 'AUTOEXTEND_SIZE', 'DELAY_KEY_WRITE',
]);

const refuse = (rule: Rule, reason: string, at?: number): Finding => ({ kind: 'prohibited', rule, reason, at });
const invalid = (rule: Rule, reason: string, at?: number): Finding => ({ kind: 'invalid', rule, reason, at });

/**
 * Judges one statement (no semicolon, no comments: splitStatements refused them) by its tokens.
 * Primary course: CREATE TABLE, a name of its own, the parenthesised definitions (columns named
 * as a host script may carry them), then table options from the safe list and partitioning on
 * InnoDB; nowhere a query, a variable, a qualified name or a function that waits or reads files.
 */
export function checkTableTokens(sql: string): { table: string } | Finding {
  const { tokens, problem } = lex(sql);
  const [verb, noun] = tokens;
  if (verb?.text !== 'CREATE') return refuse('statement', `only CREATE TABLE is allowed, not ${verb?.type === 'word' ? verb.text : 'this statement'}`);
  if (noun?.text === 'TEMPORARY') return refuse('temporary', 'TEMPORARY tables are not allowed');
  if (noun?.text !== 'TABLE') return refuse('statement', `only CREATE TABLE is allowed, not CREATE ${noun?.type === 'word' ? noun.text : ''}`.trim());
  if (problem) return problem;
  const words = everyWord(tokens);
  if (words) return words;

  let i = 2;
  if (tokens[i]?.type === 'word' && tokens[i]!.text === 'IF') return invalid('statement', 'IF NOT EXISTS has no meaning in a declarative table definition', tokens[i]!.at);
  const name = tokens[i++];
  if (name?.type !== 'word' && name?.type !== 'name') return invalid('syntax', 'expected the table name', name?.at ?? sql.length);
  const table = name.type === 'name' ? name.value! : sql.slice(name.at, name.at + name.text.length);
  if (!SQL_IDENTIFIER.test(table)) return invalid('name', `invalid table name ${JSON.stringify(table)} ${NAME_RULE}`);
  const open = tokens[i];
  if (open?.text !== '(') {
    if (open?.text === 'LIKE' || open?.text === 'AS') return refuse('query', `CREATE TABLE … ${open.text} is not allowed`);
    return invalid('syntax', 'expected ( and the column definitions after the table name', open?.at ?? sql.length);
  }
  const close = closing(tokens, i);
  if (typeof close !== 'number') return close;
  const body = definitions(sql, tokens, i, close);
  if ('reason' in body) return body;
  const tail = tableOptions(tokens, close + 1);
  if (tail) return tail;
  // Index, constraint and referenced names: none may carry a newline or other text into host scripts.
  const badName = tokens.find((t) => t.type === 'name' && !SQL_IDENTIFIER.test(t.value!));
  if (badName) return invalid('name', `invalid name ${JSON.stringify(badName.value)} ${NAME_RULE}`);
  return { table };
}

/**
 * Tokens as MySQL reads them (quotes with backslash escapes and doubled quotes), refusing on the
 * way what no table definition needs: variables (`@x`, `@@datadir`), qualified names (`db.t`,
 * `t.c`), names with `$`, outside ASCII or starting with a digit. Linear in the text.
 */
function lex(sql: string): { tokens: Token[]; problem?: Finding } {
  const tokens: Token[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    const code = sql.charCodeAt(i);
    if (code <= 32) {
      i++;
    } else if (c === "'" || c === '"' || c === '`') {
      // A doubled quote continues the text; a backslash before the quote is refused (sql-guard's closingQuote).
      let end = closingQuote(sql, i, c);
      while (typeof end === 'number' && sql[end + 1] === c) end = closingQuote(sql, end + 1, c);
      if (typeof end !== 'number') return { tokens, problem: refuse(end.code === 'PARSE' ? 'syntax' : 'expression', end.message.replace(/^[^:]*: /, ''), i) };
      const inner = sql.slice(i + 1, end);
      tokens.push({ type: c === '`' ? 'name' : 'string', text: sql.slice(i, end + 1), value: inner.replaceAll(c + c, c), at: i });
      i = end + 1;
    } else if (isWordChar(code)) {
      let j = i;
      while (j < n && isWordChar(sql.charCodeAt(j))) j++;
      let word = sql.slice(i, j);
      if (/^\d+$/.test(word) && sql[j] === '.') {
        // A decimal number: 12.50, 1.5e3 (the exponent's sign is a token of its own).
        let k = j + 1;
        while (k < n && isWordChar(sql.charCodeAt(k))) k++;
        const fraction = sql.slice(j + 1, k);
        if (fraction !== '' && !/^\d+(?:[eE]\d*)?$/.test(fraction)) return { tokens, problem: qualified(sql, i) };
        word = sql.slice(i, k);
        j = k;
      }
      const number = NUMBER.test(word) || /^\d+\.\d*(?:[eE]\d*)?$/.test(word);
      if (!number && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(word)) return { tokens, problem: invalid('name', `invalid name ${JSON.stringify(word)} ${NAME_RULE}`, i) };
      tokens.push({ type: number ? 'number' : 'word', text: number ? word : word.toUpperCase(), at: i });
      i = j;
    } else if (c === '.') {
      // A dot not touching a name before it, a digit after, starts a number (`DEFAULT .5`), as MySQL
      // lexes it; any other dot joins names (db.t, t.c, `db` . `t`).
      const before = sql.charCodeAt(i - 1);
      if (!/[0-9]/.test(sql[i + 1] ?? '') || isWordChar(before) || sql[i - 1] === '`') return { tokens, problem: qualified(sql, i) };
      let k = i + 1;
      while (k < n && isWordChar(sql.charCodeAt(k))) k++;
      if (!/^\d+(?:[eE]\d*)?$/.test(sql.slice(i + 1, k))) return { tokens, problem: qualified(sql, i) };
      tokens.push({ type: 'number', text: sql.slice(i, k), at: i });
      i = k;
    } else if (c === '@') {
      const system = sql[i + 1] === '@';
      const variable = /^@@?[\w$.]*/.exec(sql.slice(i, i + 80))![0];
      return { tokens, problem: refuse('expression', `${system ? 'system' : 'user'} variable ${variable} is not allowed in a migration`, i) };
    } else {
      tokens.push({ type: 'punct', text: c, at: i });
      i++;
    }
  }
  return { tokens };
}

function qualified(sql: string, at: number): Finding {
  const left = /[\w`$]*\s*$/.exec(sql.slice(Math.max(0, at - 64), at))![0];
  const right = /^\s*[\w`$]*/.exec(sql.slice(at + 1, at + 65))![0];
  const name = `${left}.${right}`.replace(/\s+/g, '');
  return refuse('other-database', `qualified name ${name}: a migration may only reference its own database, naming each table and column alone`, at);
}

/** Words refused anywhere after CREATE TABLE: queries, and calls of functions that wait, read files or hold locks. */
function everyWord(tokens: Token[]): Finding | undefined {
  for (let i = 2; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.type === 'word' && QUERY_WORDS.has(t.text)) return refuse('query', `${t.text} is not allowed in a migration`, t.at);
    // A call, with or without blanks before its parenthesis, by a bare or a backquoted name.
    const called = t.type === 'word' ? t.text : t.type === 'name' ? t.value!.toUpperCase() : '';
    if (PROHIBITED_FUNCTIONS.has(called) && tokens[i + 1]?.type === 'punct' && tokens[i + 1]!.text === '(') return refuse('expression', `${called} is not allowed in a migration`, t.at);
  }
  return undefined;
}

/** Index of the parenthesis closing the one at `open`, or why there is none. */
function closing(tokens: Token[], open: number): number | Finding {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i]!.type === 'punct' ? tokens[i]!.text : '';
    if (t === '(' && ++depth > MAX_NESTING) return refuse('cost', `more than ${MAX_NESTING} nested parentheses`, tokens[i]!.at);
    if (t === ')' && --depth === 0) return i;
  }
  return invalid('syntax', 'unbalanced parentheses: this one is never closed', tokens[open]!.at);
}

/** The definitions between the parentheses: columns named as a host script may carry them, each once; no VALUES or LIKE. */
function definitions(sql: string, tokens: Token[], open: number, close: number): { columns: string[] } | Finding {
  const columns: string[] = [];
  const seen = new Set<string>();
  let depth = 0;
  let start = open + 1;
  for (let i = open + 1; i <= close; i++) {
    const t = tokens[i]!;
    if (t.type === 'word' && t.text === 'VALUES') return refuse('query', 'VALUES is not allowed in a migration', t.at);
    if (t.type !== 'punct') continue;
    if (t.text === '(') depth++;
    else if (t.text === ')' && i < close) depth--;
    else if (i === close || (t.text === ',' && depth === 0)) {
      const column = columnOf(sql, tokens, start, i);
      if (typeof column !== 'string') {
        if (column) return column;
      } else if (seen.has(column.toLowerCase())) {
        return invalid('duplicate', `column ${column} is defined twice`);
      } else {
        seen.add(column.toLowerCase());
        columns.push(column);
      }
      start = i + 1;
    }
  }
  if (columns.length === 0) return invalid('syntax', 'a table needs at least one column', tokens[open]!.at);
  return { columns };
}

/** The column that tokens [start, end) define, undefined for an index, constraint or period, or why it is refused. */
function columnOf(sql: string, tokens: Token[], start: number, end: number): string | Finding | undefined {
  const first = tokens[start]!;
  if (start === end) return invalid('syntax', 'expected a column or index definition', first.at);
  const second = tokens[start + 1]?.text;
  if (first.type === 'word') {
    if (first.text === 'LIKE') return refuse('query', 'CREATE TABLE … LIKE is not allowed', first.at);
    if (NOT_COLUMN.has(first.text) || (first.text === 'PERIOD' && second === 'FOR') || (first.text === 'VECTOR' && (second === 'INDEX' || second === 'KEY'))) return undefined;
  } else if (first.type !== 'name') return invalid('syntax', 'expected a column or index definition', first.at);
  const column = first.type === 'name' ? first.value! : sql.slice(first.at, first.at + first.text.length);
  if (!SQL_IDENTIFIER.test(column)) return invalid('name', `invalid column name ${JSON.stringify(column)} ${NAME_RULE}`);
  return column;
}

/**
 * What follows the definitions: table options from the safe list, each `NAME [=] value`, then
 * optionally PARTITION BY … (its partitions on InnoDB, in the table's own directory). MariaDB's
 * WITH SYSTEM VERSIONING keeps history rows in the same table.
 */
function tableOptions(tokens: Token[], from: number): Finding | undefined {
  let i = from;
  while (i < tokens.length) {
    const t = tokens[i]!;
    if (t.text === ',' && t.type === 'punct') {
      i++;
      continue;
    }
    if (t.type !== 'word') return invalid('syntax', 'expected a table option', t.at);
    if (t.text === 'PARTITION') return partitioning(tokens, i);
    if (t.text === 'WITH' && tokens[i + 1]?.text === 'SYSTEM' && tokens[i + 2]?.text === 'VERSIONING') {
      i += 3;
      continue;
    }
    let name = t.text;
    if (name === 'DEFAULT' && ['CHARSET', 'CHARACTER', 'COLLATE'].includes(tokens[i + 1]?.text ?? '')) name = tokens[++i]!.text;
    if (name === 'CHARACTER' && tokens[i + 1]?.text === 'SET') {
      i++;
      name = 'CHARSET';
    }
    const location = fileOption(tokens, i);
    if (location) return location;
    if (!TABLE_OPTIONS.has(name)) {
      if (['AS', 'IGNORE', 'REPLACE', 'LIKE', 'VALUES'].includes(name)) return refuse('query', `CREATE TABLE … ${name} is not allowed`, t.at);
      return refuse('table-option', `table option ${name} is not allowed (tables are InnoDB, in the database's own directory)`, t.at);
    }
    i++;
    if (tokens[i]?.text === '=') i++;
    const value = tokens[i];
    if (!value || value.type === 'punct') return invalid('syntax', `table option ${name} needs a value`, value?.at ?? t.at);
    if (name === 'ENGINE' && engineOf(value) !== 'INNODB') return refuse('engine', `ENGINE=${engineOf(value)} is not allowed (tables are InnoDB, in the database's own directory)`, value.at);
    i++;
  }
  return undefined;
}

/** PARTITION BY … to the end: partition expressions follow the rules above; no option places a partition elsewhere. */
function partitioning(tokens: Token[], from: number): Finding | undefined {
  for (let i = from; i < tokens.length; i++) {
    const location = fileOption(tokens, i);
    if (location) return location;
    const t = tokens[i]!;
    if (t.type === 'word' && t.text === 'ENGINE') {
      const value = tokens[i + 1]?.text === '=' ? tokens[i + 2] : tokens[i + 1];
      if (!value || engineOf(value) !== 'INNODB') return refuse('engine', `ENGINE=${value ? engineOf(value) : ''} is not allowed (tables are InnoDB, in the database's own directory)`, t.at);
    }
  }
  let depth = 0;
  for (let i = from; i < tokens.length; i++) {
    if (tokens[i]!.type !== 'punct') continue;
    if (tokens[i]!.text === '(' && ++depth > MAX_NESTING) return refuse('cost', `more than ${MAX_NESTING} nested parentheses`, tokens[i]!.at);
    if (tokens[i]!.text === ')' && --depth < 0) return invalid('syntax', 'unbalanced parentheses: this one closes none', tokens[i]!.at);
  }
  return depth === 0 ? undefined : invalid('syntax', 'unbalanced parentheses in the partitioning: one is never closed', tokens[from]!.at);
}

/** An engine's name as the server reads it: a word, or a string (ENGINE='InnoDB'). */
const engineOf = (value: Token) => (value.value ?? value.text).toUpperCase();

/** DATA/INDEX DIRECTORY, TABLESPACE, CONNECTION, NODEGROUP at `i`: places outside the database's own directory. */
function fileOption(tokens: Token[], i: number): Finding | undefined {
  const t = tokens[i]!;
  if (t.type !== 'word') return undefined;
  if ((t.text === 'DATA' || t.text === 'INDEX') && tokens[i + 1]?.text === 'DIRECTORY') {
    return refuse('file-location', `${t.text} DIRECTORY is not allowed (tables are InnoDB, in the database's own directory)`, t.at);
  }
  if (t.text === 'TABLESPACE' || t.text === 'NODEGROUP') return refuse('file-location', `${t.text} is not allowed (tables are InnoDB, in the database's own directory)`, t.at);
  if (t.text === 'CONNECTION') return refuse('connection', 'CONNECTION is not allowed (a table stays on its own server)', t.at);
  return undefined;
}
