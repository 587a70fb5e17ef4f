import type { PlanMarkers } from './plan-scripts.ts';
import { normalizeDefinition } from './skeema.ts';
import { scrubHostDetails, skeemaLines } from './skeema-output.ts';

/**
 * Reads the dry run's host script output (plan-scripts.ts) into a plan per table: the DDL Skeema
 * printed, whether Skeema refuses it without allow_unsafe and why, and its lint warnings.
 */

export type PlanChange = 'create' | 'alter' | 'drop' | 'rename' | 'none';

export interface TablePlan {
  table: string;
  change: PlanChange;
  ddl: string[];
  unsafe: boolean;
  unsafe_reasons: string[];
  lint: Array<{ rule: string; message: string }>;
}

/** A statement Skeema prints starts a line with its verb and the table's quoted name (SHOW CREATE escapes newlines in strings). */
const STATEMENT = /^(CREATE|ALTER|DROP) TABLE `([A-Za-z][A-Za-z0-9_]{0,63})`/;

/** The DDL of each table, in Skeema's order; lines up to the first marker, without `-- instance` and USE. */
export function statementsByTable(stdout: string, markers: PlanMarkers): Map<string, string[]> {
  const byTable = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith(markers.unsafe) || line.startsWith(markers.current)) break;
    const start = STATEMENT.exec(line);
    if (start) {
      const list = byTable.get(start[2]!) ?? [];
      byTable.set(start[2]!, list);
      list.push(line);
      current = list;
    } else if (current && line.trim() && !line.startsWith('-- ') && !/^USE `/.test(line)) {
      current[current.length - 1] += `\n${line}`;
    }
  }
  return byTable;
}

/** Tables Skeema refused without allow_unsafe (the marker lines of this run's nonce). */
export function unsafeTables(stdout: string, markers: PlanMarkers): Set<string> {
  const prefix = `${markers.unsafe} `;
  return new Set(stdout.split('\n').filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length).trim()));
}

/** The current definition of each removed table, as `skeema pull` wrote it. */
export function currentDefinitions(stdout: string, markers: PlanMarkers): Map<string, string> {
  const found = new Map<string, string>();
  const lines = stdout.split('\n');
  lines.forEach((line, i) => {
    if (!line.startsWith(`${markers.current} `)) return;
    const end = lines.indexOf(markers.end, i + 1);
    found.set(line.slice(markers.current.length + 1).trim(), lines.slice(i + 1, end < 0 ? undefined : end).join('\n').trim());
  });
  return found;
}

/** Skeema names no rule in its lint messages (v1.9): each rule's own wording, by Skeema's option name. */
const LINT_RULES: ReadonlyArray<[string, RegExp]> = [
  ['pk', /does not define a PRIMARY KEY/],
  ['dupe-index', /functionally identical|is redundant|duplicate of/],
  ['auto-inc', /auto_increment column using data type/],
  ['charset', /is using character set/],
  ['display-width', /display width/],
  ['zero-date', /default value of '0000-00-00/],
  ['compression', /compression clause/],
  ['engine', /storage engine/],
];
/** A lint entry: `<path>/<table>.sql:<line>[:<col>]: message`. */
const LINT_ENTRY = /^(?:\S*\/)?([A-Za-z][A-Za-z0-9_]{0,63})\.sql:\d+(?::\d+)?: ([\s\S]*)$/;
/** Skeema's summary lines, never part of an entry. */
const SUMMARY = /^(?:Found \d+|Skipp|Generating diff|Linting|\S+ \S+: diff complete)/;

/** Lint warnings and errors per table from Skeema's stderr; a message's further lines (same level, no path) join it. */
export function lintByTable(stderr: string): Map<string, Array<{ rule: string; message: string }>> {
  const byTable = new Map<string, Array<{ rule: string; message: string }>>();
  let last: { message: string } | undefined;
  let lastLevel: string | null = null;
  for (const entry of skeemaLines(stderr)) {
    // The entry's file names the table: read it before the workspace path is scrubbed away.
    const lint = LINT_ENTRY.exec(entry.text);
    const text = scrubHostDetails(entry.text);
    if ((entry.level === 'WARN' || entry.level === 'ERROR') && lint && !/^Error executing DDL/.test(lint[2]!)) {
      const message = scrubHostDetails(lint[2]!).trim();
      last = { message };
      lastLevel = entry.level;
      const list = byTable.get(lint[1]!) ?? [];
      byTable.set(lint[1]!, list);
      list.push(Object.assign(last, { rule: LINT_RULES.find(([, p]) => p.test(message))?.[0] ?? 'lint' }));
    } else if (last && entry.level === lastLevel && !SUMMARY.test(text)) {
      last.message += ` ${text.trim()}`;
    } else {
      last = undefined;
    }
  }
  return byTable;
}

/** An ALTER's clauses: split at the commas outside quotes and parentheses. */
export function alterClauses(statement: string): string[] {
  const body = statement.replace(/^ALTER TABLE `[^`]+`\s*/, '').replace(/;\s*$/, '');
  const clauses: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      clauses.push(body.slice(start, i).trim());
      start = i + 1;
    }
  }
  clauses.push(body.slice(start).trim());
  return clauses.filter(Boolean);
}

/** Why a change Skeema refuses is unsafe, in words, from the clauses that can lose data. */
export function unsafeReasons(statements: string[]): string[] {
  const reasons: string[] = [];
  for (const s of statements) {
    const drop = /^DROP TABLE `([^`]+)`/.exec(s);
    if (drop) {
      reasons.push(`DROP TABLE \`${drop[1]}\`: the table and all its rows are removed`);
      continue;
    }
    for (const clause of alterClauses(s)) {
      const column = /^(DROP|MODIFY|CHANGE) COLUMN `([^`]+)`/.exec(clause);
      if (column?.[1] === 'DROP') reasons.push(`DROP COLUMN \`${column[2]}\`: the column's values are lost`);
      else if (column) reasons.push(`${column[1]} COLUMN \`${column[2]}\`: the column's type or definition changes; existing values may be converted, truncated or refused`);
      else if (/^ENGINE=/.test(clause)) reasons.push(`${clause}: the storage engine changes`);
      else if (/^(DEFAULT )?(CHARACTER SET|CHARSET)|^CONVERT TO/.test(clause)) reasons.push(`${clause.slice(0, 80)}: the character set changes; values may be converted`);
      else if (/PARTITION/.test(clause)) reasons.push('partitioning changes: dropping a partition removes its rows');
    }
  }
  return reasons.length ? reasons : ['Skeema refuses this change without allow_unsafe: it may lose data'];
}

/**
 * One plan entry per requested table, in the request's order. A removed table whose current
 * definition equals a created table's (its name aside) is a rename: Skeema still drops the one
 * and creates the other empty, so its rows go only to the backup.
 */
export function tablePlans(
  requested: Array<{ table: string; definition: string | null }>,
  out: { statements: Map<string, string[]>; unsafe: Set<string>; current: Map<string, string>; lint: Map<string, Array<{ rule: string; message: string }>> },
): TablePlan[] {
  const created = [...out.statements].filter(([, ddl]) => ddl.some((s) => s.startsWith('CREATE TABLE')));
  const sameAs = (table: string, createDdl: string, newName: string) =>
    normalizeDefinition(createDdl.replace(`CREATE TABLE \`${newName}\``, `CREATE TABLE \`${table}\``)) === normalizeDefinition(out.current.get(table) ?? '');
  return requested.map(({ table }) => {
    const ddl = out.statements.get(table) ?? [];
    const renamedTo = ddl.some((s) => s.startsWith('DROP TABLE')) ? created.find(([name, c]) => c.length === 1 && sameAs(table, c[0]!, name))?.[0] : undefined;
    const change: PlanChange = ddl.length === 0 ? 'none' : renamedTo ? 'rename' : ddl[0]!.startsWith('CREATE') ? 'create' : ddl[0]!.startsWith('DROP') ? 'drop' : 'alter';
    const unsafe = out.unsafe.has(table);
    const reasons = unsafe ? unsafeReasons(ddl) : [];
    if (renamedTo) reasons.push(`a rename to \`${renamedTo}\` as a declarative change: Skeema drops \`${table}\` and creates \`${renamedTo}\` empty; the rows stay only in the backup`);
    return { table, change, ddl, unsafe, unsafe_reasons: reasons, lint: out.lint.get(table) ?? [] };
  });
}
