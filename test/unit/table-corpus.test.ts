import { describe, expect, it } from 'vitest';
import { ProhibitedError, ValidationError } from '#core/errors';
import { type StatementVerdict, validateMigrationSql } from '#core/migration-sql';
import type { Rule } from '#core/table-tokens';
import { afterDefinitions, CORPUS, CORPUS_FILES, lastDefinition } from '../support/table-corpus.ts';

/**
 * The /migrate validator against real-world table definitions (test/support/table-corpus.ts):
 * every one accepted, alone and file by file; each made hostile in the ways a tenant could try,
 * and each hostile variant refused with 403 and the rule it breaks.
 */

const refusal = (sql: string) => {
  try {
    validateMigrationSql(sql);
  } catch (error) {
    if (error instanceof ProhibitedError || error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error(`accepted: ${sql}`);
};

describe('the corpus of real table definitions', () => {
  it('is large and holds every sample schema and the template', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(110);
    const files = new Set(CORPUS.map((t) => t.file));
    for (const f of ['sakila', 'world', 'employees', 'classicmodels', 'northwind', 'wordpress', 'mediawiki', 'frameworks', 'features', 'mysql8']) expect(files).toContain(`test/corpus/${f}.sql`);
    expect(CORPUS.map((t) => t.source)).toEqual(expect.arrayContaining(['orders.sql:orders', 'customers.sql:customers']));
  });

  it.each(CORPUS.map((t) => [t.source, t] as const))('accepts %s', (_source, t) => {
    expect(validateMigrationSql(t.sql)).toEqual([{ table: t.table, sql: t.sql.slice(0, -1) }]);
  });

  it.each(CORPUS_FILES.map((f) => [f.file, f.text] as const))('accepts all of %s as one request', (_file, text) => {
    const tables = validateMigrationSql(text).map((d) => d.table);
    expect(tables.length).toBe(CORPUS.filter((t) => t.file === _file).length);
  });
});

/** Ways to make a table reach outside itself, each with the rule that refuses it. */
const HOSTILE: ReadonlyArray<[string, Rule, (sql: string, table: string) => string]> = [
  ['ENGINE=MyISAM', 'engine', (s) => afterDefinitions(s, 'ENGINE=MyISAM')],
  ['ENGINE=CONNECT (reads host files)', 'engine', (s) => afterDefinitions(s, "ENGINE=CONNECT TABLE_TYPE=CSV FILE_NAME='/etc/passwd'")],
  ['ENGINE=FEDERATED with a CONNECTION', 'engine', (s) => afterDefinitions(s, "ENGINE=FEDERATED CONNECTION='mysql://root@10.0.0.9:3306/mysql/user'")],
  ['ENGINE MEMORY without =', 'engine', (s) => afterDefinitions(s, 'ENGINE MEMORY')],
  ["ENGINE='Aria' as a string", 'engine', (s) => afterDefinitions(s, "ENGINE='Aria'")],
  ['a second ENGINE after InnoDB', 'engine', (s) => afterDefinitions(s, 'ENGINE=InnoDB, ENGINE=BLACKHOLE')],
  ['CONNECTION=', 'connection', (s) => afterDefinitions(s, "CONNECTION='mysql://u:p@10.0.0.9/db/t'")],
  ['DATA DIRECTORY', 'file-location', (s) => afterDefinitions(s, "DATA DIRECTORY='/var/lib/mysql-files'")],
  ['INDEX DIRECTORY', 'file-location', (s) => afterDefinitions(s, "INDEX DIRECTORY = '/tmp'")],
  ['TABLESPACE innodb_system', 'file-location', (s) => afterDefinitions(s, 'TABLESPACE innodb_system')],
  ['a partition in another directory', 'file-location', (s) => `${s.slice(0, -1)} PARTITION BY KEY () PARTITIONS 2 (PARTITION p0 DATA DIRECTORY = '/tmp', PARTITION p1);`],
  ['a partition on another engine', 'engine', (s) => `${s.slice(0, -1)} PARTITION BY KEY () (PARTITION p0 ENGINE = MyISAM);`],
  ['UNION= of a MERGE table', 'table-option', (s) => afterDefinitions(s, 'UNION=(a, b)')],
  ['a foreign key to another database', 'other-database', (s) => lastDefinition(s, 'x_ref int, CONSTRAINT fk_x_ref FOREIGN KEY (x_ref) REFERENCES mysql.user (id)')],
  ['a backquoted foreign key to another database', 'other-database', (s) => lastDefinition(s, 'x_ref int, FOREIGN KEY (x_ref) REFERENCES `otherdb` . `parent` (`id`)')],
  ['a table of another database', 'other-database', (s, t) => s.replace(new RegExp(`^CREATE TABLE \`?${t}\`?`, 'i'), `CREATE TABLE otherdb.${t}`)],
  ['a sequence of another database in a DEFAULT', 'other-database', (s) => lastDefinition(s, 'x_seq bigint DEFAULT (NEXT VALUE FOR otherdb.seq)')],
  ['a system variable in a DEFAULT', 'expression', (s) => lastDefinition(s, 'x_dir varchar(200) DEFAULT (@@datadir)')],
  ['a user variable in a CHECK', 'expression', (s) => lastDefinition(s, 'x_v int CHECK (x_v > @limit)')],
  ['SLEEP in a generated column', 'expression', (s) => lastDefinition(s, 'x_slow int AS (SLEEP (5)) VIRTUAL')],
  ['LOAD_FILE in a DEFAULT', 'expression', (s) => lastDefinition(s, "x_file blob DEFAULT (LOAD_FILE('/etc/passwd'))")],
  ['GET_LOCK in a CHECK', 'expression', (s) => lastDefinition(s, "CONSTRAINT ck_lock CHECK (GET_LOCK('x', 100) = 1)")],
  ['a backslash before a quote (read otherwise under NO_BACKSLASH_ESCAPES)', 'expression', (s) => lastDefinition(s, "x_s varchar(9) DEFAULT 'a\\''")],
  ['a subquery in a DEFAULT', 'query', (s) => lastDefinition(s, 'x_q int DEFAULT ((SELECT 1))')],
  ['a TABLE subquery in a DEFAULT', 'query', (s) => lastDefinition(s, 'x_q int DEFAULT ((TABLE t))')],
  ['CREATE … SELECT', 'query', (s) => `${s.slice(0, -1)} AS SELECT 1 AS x;`],
  ['CREATE … (LIKE …)', 'query', (_s, t) => `CREATE TABLE ${t} (LIKE other_table);`],
  ['TEMPORARY', 'temporary', (s) => s.replace(/^CREATE TABLE/i, 'CREATE TEMPORARY TABLE')],
  ['an executable comment', 'comment', (s) => afterDefinitions(s, '/*!50000 ENGINE=MyISAM */')],
];

describe('hostile variants of the corpus', () => {
  const cases = CORPUS.flatMap((t) => HOSTILE.map(([what, rule, make]) => [`${t.source}: ${what}`, rule, make(t.sql, t.table)] as const));

  it('are many', () => {
    expect(cases.length).toBeGreaterThanOrEqual(3000);
  });

  it.each(cases)('refuses %s (rule %s)', (_label, rule, sql) => {
    const error = refusal(sql);
    expect(error.status).toBe(403);
    const [verdict] = error.details!.statements as StatementVerdict[];
    expect(verdict).toMatchObject({ index: 1, valid: false, kind: 'prohibited', rule });
    expect(error.message).toMatch(new RegExp(`^Invalid migration: statement 1 \\(${rule}\\): `));
  });
});

describe('a refusal names the statement whose verdict decided its status', () => {
  const [a, b, c] = CORPUS;
  it.each([
    ['a 400 after valid tables', [a!.sql, 'CREATE TABLE bad (id int,);'], 400, 2],
    ['a 403 after a 400', [a!.sql, 'CREATE TABLE bad (id int,);', afterDefinitions(b!.sql, 'ENGINE=MyISAM')], 403, 3],
    ['the first 403 of two', [afterDefinitions(a!.sql, 'TABLESPACE x'), afterDefinitions(b!.sql, 'ENGINE=MyISAM')], 403, 1],
    ['a missing semicolon on the third', [a!.sql, b!.sql, c!.sql.slice(0, -1)], 400, 3],
    ['a comment in the second', [a!.sql, afterDefinitions(b!.sql, '-- note\n')], 403, 2],
  ])('%s', (_label, statements, status, index) => {
    const error = refusal(statements.join('\n'));
    expect(error.status).toBe(status);
    const verdicts = error.details!.statements as StatementVerdict[];
    const named = Number(/^Invalid migration: statement (\d+) /.exec(error.message)?.[1]);
    expect(named).toBe(index);
    expect(verdicts.find((v) => v.index === named)).toMatchObject({ valid: false, kind: status === 403 ? 'prohibited' : 'invalid' });
  });
});
