/**
 * The /query corpus: hostile or malformed requests and the status each must get. Shared by the
 * validator's unit test and the HTTP integration test (which also proves nothing changed).
 * `{SELF}` and `{OTHER}` stand for the caller's database and another tenant's database.
 */
export interface HostileCase {
  label: string;
  /** The request body (an object, or raw text sent as is). */
  body: unknown;
  status: 200 | 400 | 403 | 413;
  /** What the `error` must say (200: nothing). */
  error?: RegExp;
}

const PROHIBITED = (what: string) => new RegExp(`^Prohibited operation detected: ${what}`);
const PARSE = /^SQL could not be parsed: /;
const MULTI = PROHIBITED('multiple statements');
const q = (query: string, params?: unknown[]) => (params ? { query, params } : { query });
const deep = (n: number) => `SELECT * FROM customers WHERE id = ${'('.repeat(n)}1${')'.repeat(n)}`;
/** `--` before a non-blank: MySQL runs what follows (`1 --1` is 1 - (-1)), the parser took it for a comment. */
const DASHES = PROHIBITED("'--' not followed by a space");
const LONE_CR = PROHIBITED('carriage return inside a -- or # comment');
const BACKSLASH_QUOTE = PROHIBITED('backslash-escaped');
/** The parser re-reads CAST/CONVERT/TRIM arguments, so their nesting multiplies its work. */
const COSTLY = /^SQL could not be parsed: CAST, CONVERT or TRIM nested too deeply or around too long an argument/;
const cast = (n: number, type: string, inner = '1') => `${'CAST('.repeat(n)}${inner}${` AS ${type})`.repeat(n)}`;
const sum = (n: number) => Array.from({ length: n }, (_, i) => `id + ${i}`).join(' + ');

export const hostileCases: HostileCase[] = [
  // Stacked statements
  { label: 'stacked DROP', body: q('SELECT 1; DROP TABLE customers'), status: 403, error: MULTI },
  { label: 'stacked DELETE', body: q('SELECT * FROM customers; DELETE FROM customers'), status: 403, error: MULTI },
  { label: 'two SELECTs without space', body: q('SELECT 1;SELECT 2'), status: 403, error: MULTI },
  { label: 'stacked UPDATE after a string', body: q("SELECT * FROM customers WHERE name = 'x'; UPDATE customers SET name = 'pwned'"), status: 403, error: MULTI },
  { label: 'stacked DELETE after DELETE', body: q('DELETE FROM customers WHERE id = 1; DELETE FROM orders'), status: 403, error: MULTI },
  { label: 'empty statement between two', body: q('SELECT 1 ; ; SELECT 2'), status: 403, error: MULTI },
  { label: 'stacked DO the parser does not know', body: q('SELECT 1; DO SLEEP(5)'), status: 403, error: MULTI },
  // Schema changes
  { label: 'DROP TABLE', body: q('DROP TABLE customers'), status: 403, error: PROHIBITED('DROP') },
  { label: 'DROP DATABASE', body: q('drop database {SELF}'), status: 403, error: PROHIBITED('DROP') },
  { label: 'CREATE TABLE', body: q('CREATE TABLE x (id int PRIMARY KEY)'), status: 403, error: PROHIBITED('CREATE') },
  { label: 'CREATE INDEX', body: q('CREATE INDEX ix_name ON customers (name)'), status: 403, error: PROHIBITED('CREATE') },
  { label: 'ALTER TABLE', body: q('ALTER TABLE customers ADD COLUMN x int'), status: 403, error: PROHIBITED('ALTER') },
  { label: 'TRUNCATE without TABLE', body: q('TRUNCATE customers'), status: 403, error: PROHIBITED('TRUNCATE') },
  { label: 'TRUNCATE TABLE', body: q('TRUNCATE TABLE orders'), status: 403, error: PROHIBITED('TRUNCATE') },
  { label: 'RENAME TABLE', body: q('RENAME TABLE customers TO c2'), status: 403, error: PROHIBITED('RENAME') },
  { label: 'CREATE USER', body: q("CREATE USER evil IDENTIFIED BY 'x'"), status: 403, error: PROHIBITED('CREATE') },
  { label: 'DROP USER', body: q('DROP USER root'), status: 403, error: PROHIBITED('DROP') },
  // Everything else that is not DML
  { label: 'SET a user variable', body: q('SET @a = 1'), status: 403, error: PROHIBITED('SET') },
  { label: 'SET GLOBAL', body: q('SET GLOBAL max_connections = 1'), status: 403, error: PROHIBITED('SET') },
  { label: 'SET STATEMENT … FOR', body: q('SET STATEMENT max_statement_time = 0 FOR SELECT * FROM customers'), status: 403, error: PROHIBITED('SET') },
  { label: 'SET PASSWORD', body: q("SET PASSWORD = 'x'"), status: 403, error: PROHIBITED('SET') },
  { label: 'CALL', body: q('CALL p()'), status: 403, error: PROHIBITED('CALL') },
  { label: 'DO', body: q('DO SLEEP(5)'), status: 403, error: PROHIBITED('DO') },
  { label: 'HANDLER', body: q('HANDLER customers OPEN'), status: 403, error: PROHIBITED('HANDLER') },
  { label: 'LOAD DATA INFILE', body: q("LOAD DATA INFILE '/etc/passwd' INTO TABLE customers"), status: 403, error: PROHIBITED('LOAD') },
  { label: 'LOAD DATA LOCAL INFILE', body: q("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE customers"), status: 403, error: PROHIBITED('LOAD') },
  { label: 'LOCK TABLES', body: q('LOCK TABLES customers WRITE'), status: 403, error: PROHIBITED('LOCK') },
  { label: 'UNLOCK TABLES', body: q('UNLOCK TABLES'), status: 403, error: PROHIBITED('UNLOCK') },
  { label: 'PREPARE', body: q("PREPARE s FROM 'DROP TABLE customers'"), status: 403, error: PROHIBITED('PREPARE') },
  { label: 'EXECUTE', body: q('EXECUTE s'), status: 403, error: PROHIBITED('EXECUTE') },
  { label: 'GRANT', body: q('GRANT ALL ON *.* TO CURRENT_USER'), status: 403, error: PROHIBITED('GRANT') },
  { label: 'REVOKE', body: q('REVOKE SELECT ON *.* FROM root'), status: 403, error: PROHIBITED('REVOKE') },
  { label: 'SHOW TABLES', body: q('SHOW TABLES'), status: 403, error: PROHIBITED('SHOW') },
  { label: 'SHOW DATABASES', body: q('SHOW DATABASES'), status: 403, error: PROHIBITED('SHOW') },
  { label: 'USE', body: q('USE mysql'), status: 403, error: PROHIBITED('USE') },
  { label: 'REPLACE', body: q("REPLACE INTO customers (id, name) VALUES (1, 'x')"), status: 403, error: PROHIBITED('REPLACE') },
  { label: 'START TRANSACTION', body: q('START TRANSACTION'), status: 403, error: PROHIBITED('TRANSACTION') },
  { label: 'KILL', body: q('KILL 1'), status: 403, error: PROHIBITED('KILL') },
  { label: 'FLUSH', body: q('FLUSH PRIVILEGES'), status: 403, error: PROHIBITED('FLUSH') },
  { label: 'EXPLAIN', body: q('EXPLAIN SELECT * FROM customers'), status: 403, error: PROHIBITED('EXPLAIN') },
  { label: 'INSTALL PLUGIN', body: q("INSTALL PLUGIN x SONAME 'x.so'"), status: 403, error: PROHIBITED('INSTALL') },
  { label: 'SHUTDOWN', body: q('SHUTDOWN'), status: 403, error: PROHIBITED('SHUTDOWN') },
  // Files and variables
  { label: 'INTO OUTFILE', body: q("SELECT * FROM customers INTO OUTFILE '/tmp/octodb-x'"), status: 403, error: PROHIBITED('SELECT \\.\\.\\. INTO OUTFILE') },
  { label: 'INTO DUMPFILE', body: q("SELECT * FROM customers INTO DUMPFILE '/tmp/octodb-x'"), status: 403, error: PROHIBITED('SELECT \\.\\.\\. INTO DUMPFILE') },
  { label: 'INTO a user variable', body: q('SELECT name FROM customers LIMIT 1 INTO @n'), status: 403, error: PROHIBITED('SELECT \\.\\.\\. INTO @variable') },
  { label: 'LOAD_FILE', body: q("SELECT LOAD_FILE('/etc/passwd')"), status: 403, error: PROHIBITED('LOAD_FILE') },
  { label: 'LOAD_FILE inside INSERT … SELECT', body: q("INSERT INTO customers (name) SELECT LOAD_FILE('/etc/passwd')"), status: 403, error: PROHIBITED('LOAD_FILE') },
  { label: 'system variable', body: q('SELECT @@datadir'), status: 403, error: PROHIBITED('system variable') },
  { label: 'global system variable', body: q('SELECT @@global.secure_file_priv'), status: 403, error: PROHIBITED('system variable') },
  // Waiting and burning on purpose
  { label: 'SLEEP', body: q('SELECT SLEEP(10)'), status: 403, error: PROHIBITED('SLEEP') },
  { label: 'SLEEP in WHERE', body: q('SELECT * FROM customers WHERE SLEEP(10) = 0'), status: 403, error: PROHIBITED('SLEEP') },
  { label: 'SLEEP in mixed case', body: q('SELECT sLeEp(1)'), status: 403, error: PROHIBITED('SLEEP') },
  { label: 'SLEEP as a quoted identifier', body: q('SELECT `sleep`(3)'), status: 403, error: PROHIBITED('SLEEP') },
  { label: 'SLEEP in an UPDATE subquery', body: q("UPDATE customers SET name = 'x' WHERE id = (SELECT SLEEP(5))"), status: 403, error: PROHIBITED('SLEEP') },
  { label: 'BENCHMARK', body: q("SELECT BENCHMARK(100000000, MD5('x'))"), status: 403, error: PROHIBITED('BENCHMARK') },
  { label: 'GET_LOCK', body: q("SELECT GET_LOCK('x', 10)"), status: 403, error: PROHIBITED('GET_LOCK') },
  // Other databases
  { label: 'mysql.user', body: q('SELECT * FROM mysql.user'), status: 403, error: PROHIBITED('reference to database mysql') },
  { label: 'quoted `mysql`.`user`', body: q('SELECT * FROM `mysql`.`user`'), status: 403, error: PROHIBITED('reference to database mysql') },
  { label: 'information_schema', body: q('SELECT * FROM information_schema.tables'), status: 403, error: PROHIBITED('reference to database information_schema') },
  { label: 'INFORMATION_SCHEMA upper case', body: q('SELECT * FROM INFORMATION_SCHEMA.SCHEMATA'), status: 403, error: PROHIBITED('reference to database INFORMATION_SCHEMA') },
  { label: 'performance_schema', body: q('SELECT * FROM performance_schema.threads'), status: 403, error: PROHIBITED('reference to database performance_schema') },
  { label: "a column of mysql.user", body: q('SELECT mysql.user.authentication_string FROM customers'), status: 403, error: PROHIBITED('reference to database mysql') },
  { label: 'a function in another schema', body: q('SELECT sys.version_major()'), status: 403, error: PROHIBITED('reference to database sys') },
  { label: 'a column of mysql.user, db quoted', body: q('SELECT `mysql`.user.authentication_string FROM customers'), status: 403, error: PROHIBITED('reference to database mysql') },
  { label: "NEXTVAL of another tenant's sequence", body: q('SELECT NEXTVAL({OTHER}.s)'), status: 403, error: PROHIBITED('reference to database db_') },
  { label: "SETVAL of another tenant's sequence", body: q('SELECT SETVAL({OTHER}.s, 5)'), status: 403, error: PROHIBITED('reference to database db_') },
  { label: 'LASTVAL of a quoted sequence in mysql', body: q('SELECT LASTVAL(`mysql`.`s`)'), status: 403, error: PROHIBITED('reference to database mysql') },
  { label: 'NEXT VALUE FOR (the parser does not know it)', body: q('SELECT NEXT VALUE FOR {OTHER}.s'), status: 403, error: PARSE },
  { label: 'PREVIOUS VALUE FOR (the parser does not know it)', body: q('SELECT PREVIOUS VALUE FOR {OTHER}.s'), status: 403, error: PARSE },
  { label: 'NEXTVAL of an own sequence reaches MySQL', body: q('SELECT NEXTVAL(no_such_sequence)'), status: 400, error: /^Query failed: / },
  { label: "another tenant's table", body: q('SELECT * FROM {OTHER}.customers'), status: 403, error: PROHIBITED('reference to database db_') },
  { label: 'IN subquery into another tenant', body: q('SELECT * FROM customers WHERE id IN (SELECT id FROM {OTHER}.customers)'), status: 403, error: PROHIBITED('reference to database db_') },
  { label: 'UNION into another tenant', body: q('SELECT * FROM customers UNION SELECT * FROM {OTHER}.customers'), status: 403, error: PROHIBITED('reference to database db_') },
  { label: 'scalar subquery into mysql', body: q('SELECT (SELECT user FROM mysql.user LIMIT 1) AS u'), status: 403, error: PROHIBITED('reference to database mysql') },
  { label: 'derived table from another tenant', body: q('SELECT * FROM (SELECT * FROM {OTHER}.orders) d'), status: 403, error: PROHIBITED('reference to database db_') },
  { label: 'CTE over another tenant', body: q('WITH x AS (SELECT * FROM {OTHER}.customers) SELECT * FROM x'), status: 403, error: PROHIBITED('reference to database db_') },
  { label: "INSERT into another tenant", body: q("INSERT INTO {OTHER}.customers (name) VALUES ('x')"), status: 403, error: PROHIBITED('reference to database db_') },
  { label: "UPDATE another tenant", body: q("UPDATE {OTHER}.customers SET name = 'x'"), status: 403, error: PROHIBITED('reference to database db_') },
  { label: "DELETE from another tenant", body: q('DELETE FROM {OTHER}.customers'), status: 403, error: PROHIBITED('reference to database db_') },
  { label: 'multi-table DELETE joining another tenant', body: q('DELETE c FROM customers c JOIN {OTHER}.customers o ON o.id = c.id'), status: 403, error: PROHIBITED('reference to database db_') },
  { label: 'multi-table UPDATE joining another tenant', body: q('UPDATE customers, {OTHER}.customers o SET customers.name = o.name'), status: 403, error: PROHIBITED('reference to database db_') },
  // Comment tricks
  { label: 'versioned comment hiding a DROP', body: q('SELECT 1 /*!50000 ; DROP TABLE customers */'), status: 403, error: PROHIBITED('executable comment') },
  { label: 'versioned comment as the whole statement', body: q('/*!DROP TABLE customers*/'), status: 403, error: PROHIBITED('executable comment') },
  { label: 'versioned comment hiding a UNION', body: q('SELECT * FROM customers /*!50000 UNION SELECT * FROM mysql.user */'), status: 403, error: PROHIBITED('executable comment') },
  { label: 'MariaDB executable comment', body: q('SELECT 1 /*M!100000 , (SELECT 1) */'), status: 403, error: PROHIBITED('executable comment') },
  { label: 'optimizer hint lifting the time limit', body: q('SELECT /*+ MAX_EXECUTION_TIME(100000000) */ * FROM customers'), status: 403, error: PROHIBITED('optimizer hint') },
  { label: '-- comment then a stacked statement', body: q('SELECT 1 -- comment\n; DROP TABLE customers'), status: 403, error: MULTI },
  { label: '# comment then a stacked statement', body: q('SELECT 1 # comment\n; DROP TABLE customers'), status: 403, error: MULTI },
  { label: 'semicolon inside a comment, then a real one', body: q('SELECT 1 /* ; */ ; DROP TABLE customers'), status: 403, error: MULTI },
  { label: '--x is not a comment in MySQL', body: q('SELECT 1 --x\n; DELETE FROM customers'), status: 403, error: DASHES },
  // `--` before a non-blank is code to MySQL; the parser skipped the rest of the line (the audit's bypasses)
  { label: '--1 hiding SLEEP', body: q('SELECT 1 --1 , SLEEP(5)'), status: 403, error: DASHES },
  { label: '--1 hiding GET_LOCK', body: q("SELECT 1 --1 , GET_LOCK('x', 0)"), status: 403, error: DASHES },
  { label: '--1 hiding a system variable', body: q('SELECT 1 --1 , @@datadir'), status: 403, error: DASHES },
  { label: '--1 hiding a UNION', body: q('SELECT 1 FROM customers WHERE id = 1 AND 1 --1 UNION SELECT @@datadir'), status: 403, error: DASHES },
  { label: '--1 hiding information_schema', body: q('SELECT 1 --1 , info FROM information_schema.processlist'), status: 403, error: DASHES },
  { label: '--1 hiding INTO OUTFILE', body: q("SELECT 1 --1 INTO OUTFILE '/tmp/octodb-x'"), status: 403, error: DASHES },
  { label: '--1 hiding a subquery in an UPDATE', body: q('UPDATE customers SET name = 1 --1 , email = (SELECT COUNT(*) FROM information_schema.columns)'), status: 403, error: DASHES },
  { label: '--1 hiding SLEEP in a DELETE', body: q('DELETE FROM customers WHERE id = 1 --1 OR SLEEP(3)'), status: 403, error: DASHES },
  { label: '-- before a no-break space is code to MySQL', body: q('SELECT 1 --\u00a0, SLEEP(1)'), status: 403, error: DASHES },
  { label: '-- at the very end is a comment', body: q('SELECT 1 --'), status: 200 },
  { label: '-- then a tab is a comment', body: q('SELECT 1 --\tcomment'), status: 200 },
  // The parser also ends a line comment at a carriage return, MySQL only at a line feed
  { label: 'carriage return in a -- comment', body: q("SELECT 1 -- \r'\n, SLEEP(1) -- '"), status: 403, error: LONE_CR },
  { label: 'carriage return in a # comment', body: q("SELECT 1 # \r'\n, SLEEP(1) -- '"), status: 403, error: LONE_CR },
  { label: 'a -- comment ending in CRLF', body: q('SELECT 1 AS one -- windows\r\n, 2 AS two'), status: 200 },
  { label: 'block comments do not nest, in MySQL neither', body: q('SELECT 1 /* a /* b */ , SLEEP(1) */'), status: 403, error: PARSE },
  { label: 'comment before a DROP', body: q('/* hi */ DROP TABLE customers'), status: 403, error: PROHIBITED('DROP') },
  { label: 'unterminated comment', body: q('SELECT 1 /* unterminated'), status: 403, error: PARSE },
  // String escapes (under NO_BACKSLASH_ESCAPES MySQL ends a string at \', so what the parser read as text would run)
  { label: 'backslash-escaped quote before a DROP', body: q("SELECT * FROM customers WHERE name = 'x\\'; DROP TABLE customers; -- '"), status: 403, error: BACKSLASH_QUOTE },
  { label: 'backslash-escaped quote hiding SLEEP', body: q("SELECT 'a\\' , SLEEP(1) -- '"), status: 403, error: BACKSLASH_QUOTE },
  { label: 'other backslash escapes and a doubled quote', body: q("SELECT 'it''s', 'a\\nb', 'c\\\\' AS s"), status: 200 },
  { label: "doubled quote, then a stacked DROP", body: q("SELECT * FROM customers WHERE name = 'it''s'; DROP TABLE customers"), status: 403, error: MULTI },
  { label: 'escaped backslash ends the string before a DROP', body: q("SELECT * FROM customers WHERE name = '\\\\'; DROP TABLE customers; -- '"), status: 403, error: MULTI },
  { label: 'backslash-escaped double quote hiding SLEEP', body: q('SELECT "a\\" , SLEEP(1) -- "'), status: 403, error: BACKSLASH_QUOTE },
  { label: 'unterminated string', body: q("SELECT 'unterminated"), status: 403, error: PARSE },
  { label: 'semicolon in a quoted identifier', body: q('SELECT `a;b` FROM customers'), status: 400, error: /^Query failed: Unknown column/ },
  { label: 'injection attempt in a bound param', body: q('SELECT * FROM customers WHERE name = ?', ["x'; DROP TABLE customers; -- "]), status: 200 },
  // Unicode look-alikes
  { label: 'fullwidth SELECT', body: q('ＳＥＬＥＣＴ * FROM customers'), status: 403, error: PARSE },
  { label: 'fullwidth semicolon', body: q('SELECT 1；DROP TABLE customers'), status: 403, error: PARSE },
  { label: 'Cyrillic O in DROP', body: q('DRОP TABLE customers'), status: 403, error: PARSE },
  { label: 'modifier-letter apostrophe stays inside the string', body: q("SELECT * FROM customers WHERE name = 'xʼ; DROP TABLE customers; -- '"), status: 200 },
  { label: 'Cyrillic y in mysql', body: q('SELECT * FROM mуsql.user'), status: 403, error: PROHIBITED('reference to database') },
  // Malformed
  { label: 'typo', body: q('SELEC * FROM customers'), status: 403, error: PARSE },
  { label: 'truncated statement', body: q('SELECT * FROM'), status: 403, error: PARSE },
  { label: 'only a semicolon', body: q(';'), status: 403, error: PARSE },
  { label: 'only a comment', body: q('/* nothing */'), status: 403, error: PARSE },
  { label: 'nesting 5000 deep', body: q(deep(5000)), status: 403, error: PARSE },
  // Parser work: node-sql-parser backtracks on CAST (x5 per level), CONVERT and TRIM (x2)
  { label: '9 nested CAST AS SIGNED (65 s to parse)', body: q(`SELECT 1 FROM customers WHERE id = ${cast(9, 'SIGNED')}`), status: 403, error: COSTLY },
  { label: '13 nested CAST AS CHAR (10 s to parse)', body: q(`SELECT 1 FROM customers WHERE id = ${cast(13, 'CHAR')}`), status: 403, error: COSTLY },
  { label: '4 nested CAST', body: q(`SELECT ${cast(4, 'SIGNED')}`), status: 403, error: COSTLY },
  { label: 'CAST around a long expression', body: q(`SELECT CAST(${sum(200)} AS SIGNED) FROM customers`), status: 403, error: COSTLY },
  { label: '12 nested TRIM', body: q(`SELECT ${'TRIM('.repeat(12)}name${')'.repeat(12)} FROM customers`), status: 403, error: COSTLY },
  { label: '65 nested parentheses', body: q(deep(65)), status: 403, error: /^SQL could not be parsed: more than 64 nested parentheses/ },
  { label: '64 nested parentheses', body: q(deep(64)), status: 200 },
  { label: '3 nested CAST', body: q(`SELECT ${cast(3, 'DECIMAL(10,2)', 'total')} AS t FROM orders`), status: 200 },
  { label: 'NUL byte', body: q('SELECT 1\u0000; DROP TABLE customers'), status: 403, error: MULTI },
  { label: 'fewer params than placeholders', body: q('SELECT * FROM customers WHERE id = ?', []), status: 400, error: /^params has 0 values but the statement has 1 \? placeholders/ },
  { label: 'more params than placeholders', body: q('SELECT * FROM customers WHERE id = ? AND name = ?', [1, 'x', 'y']), status: 400, error: /^params has 3 values but the statement has 2 \? placeholders/ },
  { label: 'a ? inside a string is no placeholder', body: q("SELECT * FROM customers WHERE name = '?'", ['x']), status: 400, error: /^params has 1 values but the statement has 0 \? placeholders/ },
  { label: 'a ? inside a comment is no placeholder', body: q('SELECT * FROM customers WHERE id = ? -- or ?\n', [1, 2]), status: 400, error: /^params has 2 values but the statement has 1 \? placeholders/ },
  // Bad request shapes
  { label: 'missing query', body: {}, status: 400, error: /query/ },
  { label: 'query of wrong type', body: { query: 42 }, status: 400, error: /query must be a string/ },
  { label: 'query as an array', body: { query: ['SELECT 1'] }, status: 400, error: /query must be a string/ },
  { label: 'null query', body: { query: null }, status: 400, error: /query must be a string/ },
  { label: 'empty query', body: { query: '' }, status: 400, error: /query is required/ },
  { label: 'blank query', body: { query: ' \n\t ' }, status: 400, error: /query is required/ },
  { label: 'params not an array', body: { query: 'SELECT ?', params: 'x' }, status: 400, error: /params must be an array/ },
  { label: 'object param', body: { query: 'SELECT ?', params: [{ a: 1 }] }, status: 400, error: /each param/ },
  { label: 'nested array param', body: { query: 'SELECT ?', params: [[1]] }, status: 400, error: /each param/ },
  { label: '1001 params', body: { query: 'SELECT ?', params: Array.from({ length: 1001 }, () => 1) }, status: 400, error: /at most 1000/ },
  { label: 'oversized query', body: { query: `SELECT '${'x'.repeat(65_536)}'` }, status: 400, error: /at most 65536 characters/ },
  { label: 'db_id of wrong type', body: { query: 'SELECT 1', db_id: 123 }, status: 400, error: /db_id must be a string/ },
  { label: 'invalid JSON', body: '{"query": ', status: 400, error: /valid JSON/ },
  { label: 'a JSON array', body: '["SELECT 1"]', status: 400, error: /Invalid request/ },
  { label: 'a body over the size cap', body: JSON.stringify({ query: `SELECT '${'x'.repeat(1024 * 1024)}'` }), status: 413 },
];
