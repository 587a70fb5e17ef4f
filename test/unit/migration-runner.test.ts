import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTableSkeemaScript } from '#core/host-scripts';
import { cascadeBatchId } from '#core/cascade';
import { classify, ddlOf, normalizeDefinition, parseDefinition, parseDesired, sameDefinition } from '#core/skeema';
import { OutboxNotifier } from '#adapters/outbox-notifier';

describe('classify', () => {
  it.each([
    ['Error 1040: Too many connections', 'transient'],
    ['Error 1205: Lock wait timeout exceeded; try restarting transaction', 'transient'],
    ['Error 2013: Lost connection to MySQL server during query', 'transient'],
    ["Error 1062: Duplicate entry 'a' for key 'uq'", 'permanent'],
    ['Error 1064: You have an error in your SQL syntax', 'permanent'],
  ])('%s is %s', (stderr, kind) => {
    expect(classify({ exitCode: 2, stdout: '', stderr: `2026-01-01 00:00:00 [ERROR] ${stderr}` }).kind).toBe(kind);
  });

  it('names the change Skeema refused as unsafe', () => {
    const stderr = '2026 x [ERROR] Preventing execution of unsafe or potentially destructive statement:\n2026 x [ERROR]   # ALTER TABLE `t` DROP COLUMN `age`\n';
    expect(classify({ exitCode: 2, stdout: '', stderr })).toEqual({ kind: 'unsafe', reason: expect.stringContaining('ALTER TABLE `t` DROP COLUMN `age`') });
  });
});

describe('table script output', () => {
  const out = '-- instance: 127.0.0.1:3306\nUSE `db_x`;\nALTER TABLE `t` ADD COLUMN `a` int;\n__OCTODB_DEFINITION__\nCREATE TABLE `t` (\n  `a` int\n) AUTO_INCREMENT=5 ENGINE=InnoDB\n';
  it('separates the DDL from the definition read back', () => {
    expect(ddlOf(out)).toBe('ALTER TABLE `t` ADD COLUMN `a` int;');
    expect(normalizeDefinition(parseDefinition(out)!)).toBe('CREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB');
    expect(ddlOf('__OCTODB_DEFINITION__\nCREATE TABLE `t` (`a` int)\n')).toBe('');
    expect(parseDefinition('__OCTODB_NO_TABLE__\n')).toBeNull();
    expect(parseDefinition('')).toBeUndefined();
  });

  it('reads the desired definition (skeema format) apart from the DDL and the definition read back', () => {
    const diff = 'ALTER TABLE `t` ADD COLUMN `b` int;\n__OCTODB_DESIRED__\nCREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB;\n\n__OCTODB_DEFINITION__\nCREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB\n';
    expect(ddlOf(diff)).toBe('ALTER TABLE `t` ADD COLUMN `b` int;');
    expect(parseDesired(diff)).toBe('CREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB;');
    expect(parseDefinition(diff)).toBe('CREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB');
    expect(parseDesired(out)).toBeUndefined();
  });

  it('compares definitions exactly, except the order of secondary indexes', () => {
    const def = (...body: string[]) => `CREATE TABLE \`t\` (\n${body.map((l) => `  ${l}`).join(',\n')}\n) ENGINE=InnoDB AUTO_INCREMENT=9`;
    const cols = ['`id` int(11) NOT NULL', '`a` int(11) DEFAULT NULL', 'PRIMARY KEY (`id`)'];
    expect(sameDefinition(def(...cols, 'KEY `x` (`a`)', 'KEY `y` (`id`,`a`)'), `${def(...cols, 'KEY `y` (`id`,`a`)', 'KEY `x` (`a`)')};`)).toBe(true);
    expect(sameDefinition(def(...cols), def('`a` int(11) DEFAULT NULL', '`id` int(11) NOT NULL', 'PRIMARY KEY (`id`)'))).toBe(false);
    expect(sameDefinition(def(...cols, 'KEY `x` (`a`)'), def(...cols))).toBe(false);
    expect(sameDefinition(def(...cols), `${def(...cols)} PARTITION BY HASH (\`id\`) PARTITIONS 2`)).toBe(false);
    expect(sameDefinition(def(...cols), undefined)).toBe(false);
  });

  it.each([
    ['a table name with shell characters', { table: 't$(reboot)' }],
    ['a database name with a quote', { database: "db_x'" }],
    ['a temp schema with a space', { tempSchema: 'a b' }],
  ])('refuses %s in a host script', (_l, patch) => {
    expect(() => buildTableSkeemaScript({ database: 'db_x', table: 't', definition: 'CREATE TABLE t (a int)', tempSchema: '_tmp', ...patch }, 'push')).toThrow(/unsafe/);
  });

  it('base64-encodes the definition so none of it reaches the shell', () => {
    const script = buildTableSkeemaScript({ database: 'db_x', table: 't', definition: "CREATE TABLE t (a varchar(9) DEFAULT '$(reboot)')", tempSchema: '_tmp' }, 'push');
    expect(script).not.toContain('reboot');
  });
});

describe('cascadeBatchId', () => {
  it('is a stable uuid per parent job', () => {
    const id = cascadeBatchId('3f1c0a56-7a4e-4b8e-9c41-000000000001');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(cascadeBatchId('3f1c0a56-7a4e-4b8e-9c41-000000000001')).toBe(id);
    expect(cascadeBatchId('3f1c0a56-7a4e-4b8e-9c41-000000000002')).not.toBe(id);
  });
});

describe('OutboxNotifier', () => {
  it('appends one JSON line per email', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'outbox-')), 'sub', 'outbox.jsonl');
    const outbox = new OutboxNotifier(file, 'OctoDB <o@x>');
    await outbox.send({ to: 'a@example.com', subject: 's1', text: 't1' });
    await outbox.send({ to: 'b@example.com', subject: 's2', text: 't2' });
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.from, l.to, l.subject, l.text])).toEqual([
      ['OctoDB <o@x>', 'a@example.com', 's1', 't1'],
      ['OctoDB <o@x>', 'b@example.com', 's2', 't2'],
    ]);
  });
});
