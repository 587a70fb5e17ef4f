import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { OctoError } from '#core/errors';
import { checkParamCount, checkTenantStatement, scanSql, SqlRefusedError } from '#core/sql-guard';
import { parseBody } from '#shared/http';
import { queryRequest } from '#shared/requests';
import { hostileCases } from '../support/hostile-queries.ts';

const SELF = `db_${'a'.repeat(32)}`;
const OTHER = `db_${'b'.repeat(32)}`;
const fill = (sql: string) => sql.replaceAll('{SELF}', SELF).replaceAll('{OTHER}', OTHER);

/** What the edge and the validator say about one request body, without MySQL. */
function judge(body: unknown): { status: number; error?: string } {
  try {
    const event = { body: typeof body === 'string' ? body : JSON.stringify(body) } as APIGatewayProxyEvent;
    const input = parseBody(event, queryRequest);
    if (input.kind !== 'single') throw new Error('a single statement was sent');
    checkParamCount(checkTenantStatement(fill(input.query), SELF), input.params.length);
    return { status: 200 };
  } catch (error) {
    if (error instanceof OctoError) return { status: error.status, error: error.message };
    throw error;
  }
}

describe('the /query corpus before MySQL', () => {
  expect(hostileCases.length).toBeGreaterThanOrEqual(60);
  // 413 is the gateway's; statements MySQL itself rejects (400 "Query failed") pass the validator.
  const judgeable = hostileCases.filter((c) => c.status !== 413);
  it.each(judgeable.map((c) => [c.label, c] as const))('%s', (_label, c) => {
    const expected = c.status === 400 && c.error?.source.startsWith('^Query failed') ? 200 : c.status;
    const verdict = judge(c.body);
    expect(verdict.status).toBe(expected);
    if (expected !== 200) expect(verdict.error).toMatch(c.error!);
  });
});

describe('checkTenantStatement accepts ordinary DML', () => {
  it.each([
    ['SELECT * FROM customers WHERE id = ?', 'SELECT'],
    ['select c.name, count(o.id) AS n FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.name HAVING n > ? ORDER BY n DESC LIMIT 10', 'SELECT'],
    ['WITH big AS (SELECT * FROM orders WHERE total > ?) SELECT * FROM big', 'SELECT'],
    ['SELECT * FROM customers WHERE id IN (SELECT customer_id FROM orders)', 'SELECT'],
    ['SELECT ROW_NUMBER() OVER (ORDER BY id) AS r FROM customers', 'SELECT'],
    [`SELECT * FROM ${SELF}.customers`, 'SELECT'],
    ["SELECT 'a;b', \"c;d\", '/*!50000 DROP */' AS s", 'SELECT'],
    ['SELECT * FROM customers FOR UPDATE', 'SELECT'],
    ['SELECT 1;', 'SELECT'],
    ['SELECT 1; -- trailing comment', 'SELECT'],
    ['INSERT INTO customers (name, email) VALUES (?, ?), (?, ?)', 'INSERT'],
    ['INSERT INTO orders (customer_id, total) SELECT id, 1 FROM customers', 'INSERT'],
    ['INSERT INTO customers (id, name) VALUES (1, ?) ON DUPLICATE KEY UPDATE name = VALUES(name)', 'INSERT'],
    ['UPDATE customers SET name = ? WHERE id = ?', 'UPDATE'],
    ['UPDATE orders o JOIN customers c ON c.id = o.customer_id SET o.status = ? WHERE c.name = ?', 'UPDATE'],
    ['DELETE FROM orders WHERE total < ?', 'DELETE'],
    ['/* why */ DELETE FROM orders WHERE id = 1 -- because', 'DELETE'],
  ])('%s → %s', (sql, type) => {
    expect(checkTenantStatement(sql, SELF)).toMatchObject({ type });
  });
});

describe('scanSql', () => {
  it.each([
    ['SELECT * FROM customers WHERE id = ? AND name = ?', 2],
    ["SELECT '?', \"?\", `?` FROM t WHERE a = ?", 1],
    ['SELECT 1 -- why?\n, ? /* and ? */ # or ?', 1],
    ['INSERT INTO t (a, b) VALUES (?, ?), (?, ?)', 4],
    ['SELECT 1', 0],
  ])('counts the ? placeholders in %j as %d, none inside quotes or comments', (sql, placeholders) => {
    expect(scanSql(sql).placeholders).toBe(placeholders);
  });

  it.each([
    ["SELECT ';' AS a", 1],
    ['SELECT `;` FROM t', 1],
    ['SELECT 1 -- ; SELECT 2', 1],
    ['SELECT 1 #; SELECT 2', 1],
    ['SELECT 1; SELECT 2; SELECT 3', 3],
    ['SELECT 1 - -1; SELECT 2', 2],
    ['SELECT 1 -- x\r\n; SELECT 2', 2],
    ['  ;  ', 0],
  ])('counts the statements in %j as %d', (sql, statements) => {
    expect(scanSql(sql).statements).toBe(statements);
  });

  it.each([
    ['SELECT 1--1', /'--' not followed by a space/],
    ['SELECT 1 --\u007f', /'--' not followed by a space/],
    ['SELECT 1 -- a\rb', /carriage return inside a -- or # comment/],
    ['SELECT 1 #\r\r\n', /carriage return inside a -- or # comment/],
    ["SELECT 'a\\\\\\'b'", /backslash-escaped ' in a string/],
    ['SELECT "a\\"b"', /backslash-escaped " in a string/],
  ])('refuses %j, which the parser and MySQL would read differently', (sql, problem) => {
    expect(scanSql(sql).problem?.message).toMatch(problem);
  });

  it.each([
    'SELECT 1 --',
    'SELECT 1 --\t1',
    'SELECT 1 -- x\r\n, 2',
    String.raw`SELECT 'a\\', 'b''c', 'd\"'`,
    'SELECT `a\\` FROM t',
  ])('reads %j alike with MySQL and the parser', (sql) => {
    expect(scanSql(sql).problem).toBeUndefined();
  });

  it('refuses an executable comment whatever its version number', () => {
    for (const sql of ['SELECT /*!1*/ 1', 'SELECT /*!99999 1*/ 1', 'SELECT /*M!1 1*/ 1']) {
      expect(scanSql(sql).problem).toBeInstanceOf(SqlRefusedError);
    }
  });
});

describe("checkTenantStatement bounds the parser's work before parsing", () => {
  const cast = (n: number, type: string, inner = 'total') => `${'CAST('.repeat(n)}${inner}${` AS ${type})`.repeat(n)}`;
  const nest = (n: number, open: string, close: string, inner = 'name') => `${open.repeat(n)}${inner}${close.repeat(n)}`;
  const terms = (n: number) => Array.from({ length: n }, (_, i) => `total * ${i}`).join(' + ');

  it.each([
    ['4 nested CASTs', `SELECT ${cast(4, 'SIGNED')} FROM orders`],
    ['4 nested CASTs spelled CAST (', `SELECT ${cast(4, 'SIGNED').replaceAll('CAST(', 'cast /* x */ (')} FROM orders`],
    ['4 nested CASTs inside a function named constructor', `SELECT constructor(${cast(4, 'SIGNED')}) FROM orders`],
    ['3 nested CASTs around a long expression', `SELECT ${cast(3, 'SIGNED', terms(10))} FROM orders`],
    ['a CAST around a 2 KB expression', `SELECT ${cast(1, 'CHAR', terms(150))} FROM orders`],
    ['12 nested TRIMs', `SELECT ${nest(12, 'TRIM(', ')')} FROM customers`],
    ['13 nested CONVERTs', `SELECT ${nest(13, 'CONVERT(', ' USING utf8mb4)')} FROM customers`],
    ['200 CASTs side by side', `SELECT ${Array.from({ length: 200 }, () => 'CAST(total AS CHAR)').join(', ')} FROM orders`],
    ['65 nested parentheses', `SELECT ${nest(65, '(', ')', '1')}`],
  ])('refuses %s', (_label, sql) => {
    expect(() => checkTenantStatement(sql, SELF)).toThrow(/^SQL could not be parsed: (CAST, CONVERT or TRIM|more than 64 nested)/);
  });

  it.each([
    ['3 nested CASTs', `SELECT ${cast(3, 'DECIMAL(10,2)')}, ${cast(3, 'UNSIGNED INTEGER')} FROM orders`],
    ['CAST, CONVERT and TRIM together', "SELECT CAST(SUM(total) AS DECIMAL(12,2)), CONVERT(TRIM(BOTH ' ' FROM name) USING utf8mb4) FROM customers"],
    ['6 nested TRIMs', `SELECT ${nest(6, 'TRIM(', ')')} FROM customers`],
    ['40 CASTs side by side', `SELECT ${Array.from({ length: 40 }, (_, i) => `CAST(c${i} AS CHAR)`).join(', ')} FROM customers`],
    ['64 nested parentheses', `SELECT ${nest(64, '(', ')', '1')}`],
    ['subqueries 20 deep', `SELECT ${nest(20, '(SELECT ', ' FROM orders LIMIT 1)', 'total')}`],
    ['CASE 20 deep', `SELECT ${nest(20, 'CASE WHEN total > 1 THEN ', ' ELSE 0 END', '1')} FROM orders`],
    ['functions named like CAST and TRIM', `SELECT LTRIM(RTRIM(name)), forecast(${terms(300)}) FROM customers`],
    ['a 60 KB INSERT', `INSERT INTO orders (customer_id, total) VALUES ${Array.from({ length: 4000 }, (_, i) => `(${i}, ?)`).join(', ')}`],
  ])('accepts %s', (_label, sql) => {
    expect(() => checkTenantStatement(sql, SELF)).not.toThrow();
  });
});
