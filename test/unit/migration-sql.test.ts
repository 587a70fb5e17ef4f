import { describe, expect, it } from 'vitest';
import { ProhibitedError, ValidationError } from '#core/errors';
import { splitStatements, validateMigrationSql } from '#core/migration-sql';

const T = 'CREATE TABLE t (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) DEFAULT NULL, PRIMARY KEY (id));';

describe('validateMigrationSql accepts', () => {
  it.each([
    ['a plain table', T, ['t']],
    ['two tables', `${T}\nCREATE TABLE u (id int NOT NULL, PRIMARY KEY (id));`, ['t', 'u']],
    ['table options', 'CREATE TABLE t (id int NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;', ['t']],
    ['indexes of every kind', 'CREATE TABLE t (id int NOT NULL, a int, b varchar(9), PRIMARY KEY (id), UNIQUE KEY uq_a (a), KEY ix_b (b));', ['t']],
    ['backquoted names', 'CREATE TABLE `orders` (`id` int NOT NULL, PRIMARY KEY (`id`));', ['orders']],
    ['a semicolon inside a string default', "CREATE TABLE t (id int, s varchar(9) DEFAULT 'a;b');", ['t']],
    ['a column COMMENT (not an SQL comment)', "CREATE TABLE t (id int COMMENT 'the -- id');", ['t']],
    ['decimal, datetime, enum, json and text', "CREATE TABLE t (d decimal(12,2) NOT NULL DEFAULT 0.00, c datetime NOT NULL DEFAULT CURRENT_TIMESTAMP, e enum('a','b'), j json, x text);", ['t']],
    ['a foreign key to its own database', 'CREATE TABLE t (id int NOT NULL, u_id int, PRIMARY KEY (id), FOREIGN KEY (u_id) REFERENCES u (id));', ['t']],
    ['lower-case keywords and extra whitespace', '  create   table   t ( id int ) ;  ', ['t']],
    ['a 64-character table name', `CREATE TABLE ${'a'.repeat(64)} (id int);`, ['a'.repeat(64)]],
    ['a doubled quote inside a string', "CREATE TABLE t (s varchar(9) DEFAULT 'it''s');", ['t']],
    ['column names that contain a keyword and digits', 'CREATE TABLE t (id int, call2 int, select1 int, execute3 int, v2prepare int);', ['t']],
    ['columns named engine, connection and directory', 'CREATE TABLE t (id int, engine varchar(9), connection int, directory int);', ['t']],
    ['ENGINE=InnoDB in lower case', 'CREATE TABLE t (id int) engine=innodb;', ['t']],
    ['expressions of its own columns in DEFAULT, CHECK and generated columns', 'CREATE TABLE t (a int DEFAULT (1 + 2), b int AS (a * 2) STORED, c varchar(9) DEFAULT (UPPER(\'x\')), CONSTRAINT ck_a CHECK (a > 0));', ['t']],
    ['backquoted index and constraint names', 'CREATE TABLE t (a int, b int, KEY `ix_a` (`a`), CONSTRAINT `ck_b` CHECK (b > 0));', ['t']],
    ['text outside ASCII inside a string', "CREATE TABLE t (a varchar(9) DEFAULT 'ключ' COMMENT 'ünïcode');", ['t']],
  ])('%s', (_label, sql, tables) => {
    expect(validateMigrationSql(sql).map((d) => d.table)).toEqual(tables);
  });

  it('keeps each statement without its semicolon as the desired definition', () => {
    const [def] = validateMigrationSql(T);
    expect(def!.sql).toBe(T.slice(0, -1));
  });
});

const refused = (sql: string) => {
  try {
    validateMigrationSql(sql);
  } catch (error) {
    return error as ValidationError | ProhibitedError;
  }
  throw new Error('accepted');
};

describe('validateMigrationSql refuses with 403', () => {
  it.each([
    ['DROP TABLE', 'DROP TABLE t;', /only CREATE TABLE/],
    ['INSERT', "INSERT INTO t VALUES (1);", /only CREATE TABLE/],
    ['UPDATE', 'UPDATE t SET a = 1;', /only CREATE TABLE/],
    ['DELETE', 'DELETE FROM t;', /only CREATE TABLE/],
    ['ALTER TABLE', 'ALTER TABLE t ADD COLUMN x int;', /only CREATE TABLE/],
    ['TRUNCATE', 'TRUNCATE TABLE t;', /only CREATE TABLE/],
    ['CREATE DATABASE', 'CREATE DATABASE x;', /not CREATE DATABASE/],
    ['CREATE USER', "CREATE USER x IDENTIFIED BY 'y';", /not CREATE USER/],
    ['CREATE VIEW', 'CREATE VIEW v AS SELECT 1;', /SELECT|CREATE VIEW/],
    ['GRANT', 'GRANT ALL ON *.* TO x;', /only CREATE TABLE/],
    ['a DROP after a valid table (nothing queued)', `${T} DROP TABLE u;`, /only CREATE TABLE/],
    ['a dash-dash comment', `${T} -- hi`, /comments/],
    ['a hash comment', `# hi\n${T}`, /comments/],
    ['a block comment', 'CREATE TABLE t (id int /* x */);', /comments/],
    ['an executable comment', 'CREATE TABLE t (id int) /*!50000 ENGINE=MyISAM */;', /comments/],
    ['CREATE TABLE … SELECT', 'CREATE TABLE t (id int) SELECT 1 AS id;', /SELECT/],
    ['CREATE TABLE … AS SELECT', 'CREATE TABLE t AS SELECT * FROM u;', /SELECT/],
    ['CREATE TABLE … LIKE', 'CREATE TABLE t LIKE u;', /LIKE/],
    ['a nested SELECT in a default', 'CREATE TABLE t (id int DEFAULT (SELECT 1));', /SELECT/],
    ['EXECUTE', 'EXECUTE stmt;', /EXECUTE/],
    ['PREPARE', "PREPARE s FROM 'DROP TABLE t';", /PREPARE/],
    ['CALL', 'CALL p();', /CALL/],
    ['another database', 'CREATE TABLE other.t (id int);', /own database/],
    ['a temporary table', 'CREATE TEMPORARY TABLE t (id int);', /TEMPORARY/i],
    ['a foreign key to another database', 'CREATE TABLE t (id int, FOREIGN KEY (id) REFERENCES other.u (id));', /own database/],
    ['a FEDERATED table (reads another server)', "CREATE TABLE t (id int) ENGINE=FEDERATED CONNECTION='mysql://u:p@10.0.0.9/db/t';", /ENGINE=FEDERATED/],
    ['ENGINE without =', 'CREATE TABLE t (id int) ENGINE FEDERATED;', /ENGINE=FEDERATED/],
    ['a CONNECT table (reads files)', 'CREATE TABLE t (id int) ENGINE=CONNECT;', /ENGINE=CONNECT/],
    ['a SPIDER table', 'CREATE TABLE t (id int) ENGINE=SPIDER;', /ENGINE=SPIDER/],
    ['a CSV table', 'CREATE TABLE t (id int NOT NULL) ENGINE=CSV;', /ENGINE=CSV/],
    ['a MEMORY table (rows lost on restart)', 'CREATE TABLE t (id int) ENGINE=MEMORY;', /ENGINE=MEMORY/],
    ['a MyISAM table', 'CREATE TABLE t (id int) ENGINE=MyISAM;', /ENGINE=MYISAM/],
    ['a second ENGINE after InnoDB', 'CREATE TABLE t (id int) ENGINE=InnoDB, ENGINE=MEMORY;', /ENGINE=MEMORY/],
    ['DATA DIRECTORY', "CREATE TABLE t (id int) DATA DIRECTORY='/var/lib/mysql-files';", /DATA DIRECTORY/],
    ['INDEX DIRECTORY', "CREATE TABLE t (id int) INDEX DIRECTORY='/tmp';", /INDEX DIRECTORY/],
    ['a CONNECTION string', "CREATE TABLE t (id int) CONNECTION='mysql://u@h/db/t';", /CONNECTION/],
    ['a system variable in a DEFAULT', 'CREATE TABLE t (a varchar(200) DEFAULT (@@datadir));', /system variable @@datadir/],
    ['a system variable in a generated column', 'CREATE TABLE t (a int, b varchar(99) AS (CONCAT(a, @@hostname)) VIRTUAL);', /system variable @@hostname/],
    ['a system variable in a CHECK', 'CREATE TABLE t (a int, CONSTRAINT ck CHECK (a < @@max_connections));', /system variable @@max_connections/],
    ['a user variable in a DEFAULT', 'CREATE TABLE t (a int DEFAULT (@x));', /user variable @x/],
    ['a user variable in a column CHECK', 'CREATE TABLE t (a int CHECK (a > @x));', /user variable @x/],
    ["a sequence of another database in a DEFAULT", 'CREATE TABLE t (a int DEFAULT (NEXTVAL(otherdb.seq)));', /qualified name otherdb\.seq: .*own database/],
    ["a function of another database in a DEFAULT", 'CREATE TABLE t (a int DEFAULT (otherdb.f(1)));', /qualified name otherdb\.f: .*own database/],
    ['SLEEP in a CHECK', 'CREATE TABLE t (a int, CONSTRAINT ck CHECK (a > SLEEP(1)));', /SLEEP/],
    ['BENCHMARK in a generated column', "CREATE TABLE t (a int, b int AS (BENCHMARK(1000000000, MD5('x'))) VIRTUAL);", /BENCHMARK/],
    ['LOAD_FILE in a DEFAULT', "CREATE TABLE t (a blob DEFAULT (LOAD_FILE('/etc/passwd')));", /LOAD_FILE/],
    ['GET_LOCK in a generated column', "CREATE TABLE t (a int, b int AS (GET_LOCK('x', 10)) VIRTUAL);", /GET_LOCK/],
  ])('%s', (_label, sql, reason) => {
    const error = refused(sql);
    expect(error).toBeInstanceOf(ProhibitedError);
    expect(error.status).toBe(403);
    expect(String(error.message)).toMatch(reason);
  });
});

describe('validateMigrationSql refuses with 400', () => {
  it.each([
    ['a missing semicolon', 'CREATE TABLE t (id int)', /semicolon/],
    ['a missing semicolon on the last of two', `${T} CREATE TABLE u (id int)`, /statement 2 must end with a semicolon/],
    ['two semicolons', 'CREATE TABLE t (id int);;', /empty statement/],
    ['an empty request', '   ', /no statement/],
    ['an empty definition, with its position', 'CREATE TABLE t (id int,);', /statement 1 \(syntax\): expected a column or index definition \(line 1, column 24\)/],
    ['a table name with a hyphen', 'CREATE TABLE `my-table` (id int);', /invalid table name/],
    ['a table name starting with a digit', 'CREATE TABLE `1t` (id int);', /invalid table name/],
    ['a table name over 64 characters', `CREATE TABLE ${'a'.repeat(65)} (id int);`, /invalid table name/],
    ['a table name with a space', 'CREATE TABLE `a b` (id int);', /invalid table name/],
    ['a column name with a dollar', 'CREATE TABLE t (`a$b` int);', /invalid column name/],
    ['a column name with a quote', 'CREATE TABLE t (`a"b` int);', /invalid column name/],
    ['an index name with a newline (it would reach host script output)', 'CREATE TABLE t (a int, KEY `ix\n__OCTODB_NO_TABLE__` (a));', /invalid name/],
    ['a constraint name with a newline', 'CREATE TABLE t (a int, CONSTRAINT `ck\nx` CHECK (a > 0));', /invalid name/],
    ['a unique key name with a space', 'CREATE TABLE t (a int, UNIQUE KEY `u a` (a));', /invalid name/],
    ['a foreign key name with a dollar', 'CREATE TABLE t (a int, CONSTRAINT `f$k` FOREIGN KEY (a) REFERENCES u (id));', /invalid name/],
    ['a referenced column with a newline', 'CREATE TABLE t (a int, FOREIGN KEY (a) REFERENCES u (`i\nd`));', /invalid name/],
    ['an unquoted index name outside ASCII', 'CREATE TABLE t (a int, KEY índice (a));', /invalid name/],
    ['a column defined twice', 'CREATE TABLE t (a int, A int);', /defined twice/],
    ['a table defined twice', 'CREATE TABLE t (a int); CREATE TABLE t (b int);', /defined twice/],
    ['an unterminated string', "CREATE TABLE t (s varchar(9) DEFAULT 'x);", /unterminated/],
    ['IF NOT EXISTS', 'CREATE TABLE IF NOT EXISTS t (id int);', /IF NOT EXISTS/],
    ['too many statements', Array.from({ length: 51 }, (_, i) => `CREATE TABLE t${i} (id int);`).join(''), /at most 50/],
  ])('%s', (_label, sql, reason) => {
    const error = refused(sql);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.status).toBe(400);
    expect(String(error.message)).toMatch(reason);
  });

  it('reports a verdict for every statement, valid or not', () => {
    const error = refused(`${T} CREATE TABLE u (x int,); DROP TABLE v;`);
    expect(error.details?.statements).toEqual([
      { index: 1, table: 't', valid: true },
      expect.objectContaining({ index: 2, valid: false, kind: 'invalid' }),
      expect.objectContaining({ index: 3, valid: false, kind: 'prohibited' }),
    ]);
    expect(error.status).toBe(403);
  });
});

describe('splitStatements', () => {
  it('splits at semicolons outside quotes and backquotes', () => {
    expect(splitStatements("a ';' b;\n `x;y` c;").statements).toEqual([{ sql: "a ';' b", at: 0 }, { sql: '`x;y` c', at: 10 }]);
  });
});

describe('what the parser cannot read', () => {
  it.each([
    ['the template orders table (an unquoted column named status)', "CREATE TABLE orders (id bigint unsigned NOT NULL AUTO_INCREMENT, status varchar(20) NOT NULL DEFAULT 'new', PRIMARY KEY (id)) ENGINE=InnoDB;"],
    ['PARTITION BY HASH', 'CREATE TABLE t (id int NOT NULL, PRIMARY KEY (id)) PARTITION BY HASH (id) PARTITIONS 4;'],
    ['WITH SYSTEM VERSIONING', 'CREATE TABLE t (x int) WITH SYSTEM VERSIONING;'],
    ['an application-time period', 'CREATE TABLE t (id int, s date, e date, PERIOD FOR p (s, e));'],
    ['a number written .5', 'CREATE TABLE t (r float DEFAULT .5, s float DEFAULT (-.25));'],
    ['a backquoted table named if', 'CREATE TABLE `if` (id int);'],
    ['bad syntax the tokens cannot see: the server judges it when the job runs', 'CREATE TABLE t (id int foo bar);'],
  ])('is accepted when safe: %s', (_label, sql) => {
    expect(validateMigrationSql(sql).map((d) => d.table)).toEqual([expect.any(String)]);
  });

  it.each([
    ['MyISAM after an unquoted status column', "CREATE TABLE t (status varchar(9)) ENGINE=MyISAM;", 'engine'],
    ['a system variable after an unquoted status column', 'CREATE TABLE t (status varchar(200) DEFAULT (@@datadir));', 'expression'],
    ['a partition in another directory', "CREATE TABLE t (id int) PARTITION BY HASH (id) (PARTITION p0 INDEX DIRECTORY = '/tmp');", 'file-location'],
    ['a table-qualified column', 'CREATE TABLE t (a int, CHECK (t.a > 0));', 'other-database'],
    ['a dot touching a name before a digit', 'CREATE TABLE t (a int, FOREIGN KEY (a) REFERENCES db.5t (id));', 'other-database'],
    ['SLEEP with a space before its parenthesis', 'CREATE TABLE t (a int AS (SLEEP (1)) VIRTUAL);', 'expression'],
    ['SLEEP by a backquoted name', 'CREATE TABLE t (a int AS (`sleep`(1)) VIRTUAL);', 'expression'],
    ['an unknown table option', 'CREATE TABLE t (a int) SECONDARY_ENGINE=rapid;', 'table-option'],
    ["a string '(' that would hide ENGINE inside the definitions", "CREATE TABLE t (a varchar(9) DEFAULT '(') ENGINE=MyISAM COMMENT ')';", 'engine'],
    ["a string ')' that would end the definitions early", "CREATE TABLE t (a varchar(9) DEFAULT ')', b int) ENGINE=MyISAM;", 'engine'],
    ["a string '(' after a first column, closed by a string ')' in a COMMENT", "CREATE TABLE t (a int, b varchar(9) DEFAULT '(') ENGINE=MyISAM COMMENT ')';", 'engine'],
    ["a string '(' in a partition before its ENGINE", "CREATE TABLE t (a int) PARTITION BY HASH (a) (PARTITION p0 COMMENT '(' ENGINE = MyISAM);", 'engine'],
    ['an engine named by a double-quoted string', 'CREATE TABLE t (a int) ENGINE = "MyISAM";', 'engine'],
    ['a backquoted CREATE', 'CREATE TABLE t (a int);'.replace('CREATE', '`CREATE`'), 'statement'],
    ['more than 64 nested parentheses', `CREATE TABLE t (a int DEFAULT ${'('.repeat(70)}1${')'.repeat(70)});`, 'cost'],
  ])('refuses %s (rule %s)', (_label, sql, rule) => {
    const error = refused(sql);
    expect(error.status).toBe(403);
    expect(error.details?.statements).toEqual([expect.objectContaining({ index: 1, valid: false, rule })]);
  });

  it.each([
    ['an unclosed parenthesis', 'CREATE TABLE a (id int);\n\nCREATE TABLE b (id int, KEY k (id);', 'statement 2 (syntax): unbalanced parentheses: this one is never closed (line 3, column 16)'],
    ['a missing semicolon', 'CREATE TABLE a (id int);\n  CREATE TABLE b (id int)', 'statement 2 (syntax): statement 2 must end with a semicolon (line 2, column 26)'],
    ["a string where the column list opens", "CREATE TABLE a '(' id int);", 'statement 1 (syntax): expected ( and the column definitions after the table name (line 1, column 16)'],
    ['a missing column list', 'CREATE TABLE a id int;', 'statement 1 (syntax): expected ( and the column definitions after the table name (line 1, column 16)'],
  ])('gives the position of %s', (_label, sql, message) => {
    const error = refused(sql);
    expect(error.status).toBe(400);
    expect(error.message).toBe(`Invalid migration: ${message}`);
  });
});
