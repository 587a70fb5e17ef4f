import { describe, expect, it } from 'vitest';
import { alterClauses, currentDefinitions, lintByTable, statementsByTable, tablePlans, unsafeReasons, unsafeTables } from '#core/plan-output';
import { newPlanMarkers } from '#core/plan-scripts';

const markers = newPlanMarkers('ab'.repeat(12));
const forged = newPlanMarkers('cd'.repeat(12));

/** What Skeema 1.9 printed for a dry run here (paths as the host's mktemp makes them). */
const STDOUT = [
  '-- instance: 127.0.0.1:3306',
  'USE `db_x`;',
  'ALTER TABLE `a` DROP COLUMN `note`, ADD COLUMN `v` float DEFAULT NULL COMMENT \'x, y;\\nDROP TABLE `zz`\';',
  'DROP TABLE `b`;',
  'CREATE TABLE `c` (',
  '  `x` int(11) DEFAULT NULL',
  ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;',
  `${markers.unsafe} a`,
  `${forged.unsafe} c`,
  `${markers.unsafe} b`,
  `${markers.current} b`,
  'CREATE TABLE `b` (',
  '  `x` int(11) DEFAULT NULL',
  ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;',
  markers.end,
].join('\n');
const STDERR = [
  '2026-12-06 10:43:33 [INFO]  Generating diff of 127.0.0.1:3306 db_x vs /tmp/tmp.AbCdEf1234/s/*.sql',
  '2026-12-06 10:43:33 [WARN]  /tmp/tmp.AbCdEf1234/s/c.sql:1:1: Indexes k2 and k1 of table c are functionally identical.',
  '2026-12-06 10:43:33 [WARN]  One of them should be dropped. Redundant indexes waste disk space, and harm write performance.',
  '2026-12-06 10:43:33 [WARN]  /tmp/tmp.AbCdEf1234/s/c.sql:1:1: Table c does not define a PRIMARY KEY. Lack of a PRIMARY KEY hurts performance.',
  '2026-12-06 10:43:33 [INFO]  127.0.0.1:3306 db_x: diff complete',
].join('\n');

describe('the dry run output', () => {
  it('groups the DDL by table; a quoted semicolon or newline in a comment starts no statement', () => {
    const byTable = statementsByTable(STDOUT, markers);
    expect([...byTable.keys()]).toEqual(['a', 'b', 'c']);
    expect(byTable.get('a')).toHaveLength(1);
    expect(byTable.get('c')![0]).toMatch(/^CREATE TABLE `c` \(\n {2}`x` int\(11\)/);
    expect(byTable.has('zz')).toBe(false);
  });

  it("takes only this run's unsafe markers", () => {
    expect([...unsafeTables(STDOUT, markers)]).toEqual(['a', 'b']);
  });

  it('reads lint per table with its rule, the continuation joined, without workspace paths', () => {
    const lint = lintByTable(STDERR);
    expect([...lint.keys()]).toEqual(['c']);
    expect(lint.get('c')).toEqual([
      { rule: 'dupe-index', message: 'Indexes k2 and k1 of table c are functionally identical. One of them should be dropped. Redundant indexes waste disk space, and harm write performance.' },
      { rule: 'pk', message: 'Table c does not define a PRIMARY KEY. Lack of a PRIMARY KEY hurts performance.' },
    ]);
  });

  it('splits an ALTER at commas outside quotes and parentheses', () => {
    expect(alterClauses("ALTER TABLE `t` ADD COLUMN `a` decimal(10,2) DEFAULT '1,2', DROP COLUMN `b`, ADD KEY `k` (`a`,`c`);")).toEqual([
      "ADD COLUMN `a` decimal(10,2) DEFAULT '1,2'",
      'DROP COLUMN `b`',
      'ADD KEY `k` (`a`,`c`)',
    ]);
  });

  it.each([
    [['DROP TABLE `t`;'], 'DROP TABLE `t`: the table and all its rows are removed'],
    [['ALTER TABLE `t` DROP COLUMN `n`;'], "DROP COLUMN `n`: the column's values are lost"],
    [['ALTER TABLE `t` MODIFY COLUMN `n` tinyint(4) DEFAULT NULL;'], 'MODIFY COLUMN `n`: the column\'s type or definition changes; existing values may be converted, truncated or refused'],
    [['ALTER TABLE `t` ENGINE=Aria;'], 'ENGINE=Aria: the storage engine changes'],
    [['ALTER TABLE `t` ADD COLUMN `x` int;'], 'Skeema refuses this change without allow_unsafe: it may lose data'],
  ])('explains %j', (ddl, reason) => {
    expect(unsafeReasons(ddl)).toContain(reason);
  });

  it('plans each requested table in request order; a removed table another takes the definition of is a rename', () => {
    const requested = [
      { table: 'c', definition: 'CREATE TABLE c (x int)' },
      { table: 'a', definition: 'CREATE TABLE a (id int)' },
      { table: 'b', definition: null },
      { table: 'd', definition: 'CREATE TABLE d (id int)' },
    ];
    const plans = tablePlans(requested, {
      statements: statementsByTable(STDOUT, markers),
      unsafe: unsafeTables(STDOUT, markers),
      current: currentDefinitions(STDOUT, markers),
      lint: lintByTable(STDERR),
    });
    expect(plans.map((p) => [p.table, p.change, p.unsafe])).toEqual([
      ['c', 'create', false],
      ['a', 'alter', true],
      ['b', 'rename', true],
      ['d', 'none', false],
    ]);
    expect(plans[2]!.unsafe_reasons.at(-1)).toMatch(/^a rename to `c`/);
  });
});
