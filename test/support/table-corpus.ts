import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitStatements } from '#core/migration-sql';

/**
 * Real-world table definitions: the project's own template and MetaDB schemas, and well-known
 * sample schemas (test/corpus: sakila, world, employees, classicmodels, northwind, WordPress core,
 * MediaWiki, Django/Laravel, server features of MariaDB and MySQL 8) as their projects define them,
 * one table per CREATE (executable comments and the schemas' other statements left out).
 */
export interface CorpusTable {
  /** `file:table`, for test names. */
  source: string;
  file: string;
  table: string;
  /** The statement with its semicolon. */
  sql: string;
}

const root = new URL('../../', import.meta.url).pathname;
const dirs = ['test/corpus', 'schemas/meta', ...readdirSync(join(root, 'schemas/templates')).map((t) => `schemas/templates/${t}`)];

export const CORPUS_FILES: ReadonlyArray<{ file: string; text: string }> = dirs.flatMap((dir) =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => ({ file: `${dir}/${f}`, text: readFileSync(join(root, dir, f), 'utf8') })),
);

export const CORPUS: readonly CorpusTable[] = CORPUS_FILES.flatMap(({ file, text }) =>
  splitStatements(text).statements.map(({ sql }) => {
    const table = /^CREATE\s+TABLE\s+`?(\w+)`?/i.exec(sql)?.[1] ?? '?';
    return { source: `${file.split('/').at(-1)}:${table}`, file, table, sql: `${sql};` };
  }),
);

/** Index of the parenthesis closing a table's column definitions (quotes skipped). */
export function definitionsEnd(sql: string): number {
  let depth = 0;
  for (let i = sql.indexOf('('); i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`') {
      for (i++; i < sql.length && sql[i] !== c; i++) if (sql[i] === '\\' && c !== '`') i++;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  throw new Error(`no end of definitions in ${sql.slice(0, 60)}`);
}

/** The statement with `text` added after its column definitions (before any table option). */
export const afterDefinitions = (sql: string, text: string) => {
  const end = definitionsEnd(sql) + 1;
  return `${sql.slice(0, end)} ${text}${sql.slice(end)}`;
};
/** The statement with `text` added as the last column definition. */
export const lastDefinition = (sql: string, text: string) => {
  const end = definitionsEnd(sql);
  return `${sql.slice(0, end)}, ${text}${sql.slice(end)}`;
};
