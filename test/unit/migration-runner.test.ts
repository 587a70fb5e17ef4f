import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTableSkeemaScript, newScriptMarkers } from '#core/host-scripts';
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

  it.each([
    ['a duplicate entry quoting a deadlock message', "Error running DDL on h:3306 db_x: Error 1062: Duplicate entry 'Deadlock found when trying to get lock' for key 'a'"],
    ['a message quoting an error number', "Error running DDL on h:3306 db_x: Error 1062 (23000): Duplicate entry 'Error 1213 (40001): x' for key 'a'"],
    ['row text faking a log line after a newline', "Error running DDL on h:3306 db_x: Error 1062: Duplicate entry 'x\n2026-01-01 00:00:00 [ERROR] Error 1213: Deadlock found' for key 'a'"],
    ['a parse error quoting a connection failure', "Error 1064: You have an error near 'connection refused'"],
    ['a numberless error quoting an error number', "Skipping db_x: unexpected DDL near 'Error 1213: Deadlock found'"],
  ])('only the server error number decides: %s is permanent', (_l, line) => {
    expect(classify({ exitCode: 2, stdout: '', stderr: `2026-01-01 00:00:00 [ERROR] ${line}\n2026-01-01 00:00:00 [ERROR] Skipped 1 operation due to problem` }).kind).toBe('permanent');
  });

  it.each([
    ['Error running DDL on h:3306 db_x: Error 1213 (40001): Deadlock found when trying to get lock', 'transient'],
    ['Skipping 127.0.0.1:1 for /tmp/x: dial tcp 127.0.0.1:1: connect: connection refused', 'transient'],
    ['Error running DDL on h:3306 db_x: Error 1969: Query execution was interrupted (max_statement_time exceeded)', 'timeout'],
  ])('%s is %s', (line, kind) => {
    expect(classify({ exitCode: 2, stdout: '', stderr: `2026-01-01 00:00:00 [ERROR] ${line}` }).kind).toBe(kind);
  });

  it('reports a push its watchdog stopped, or a script the runner stopped, as a timeout', () => {
    expect(classify({ exitCode: 137, stdout: '', stderr: '' }, 5)).toEqual({ kind: 'timeout', reason: expect.stringContaining('time limit of 5s') });
    expect(classify({ exitCode: -1, stdout: '', stderr: 'killed', timedOut: true }).kind).toBe('timeout');
    expect(classify({ exitCode: -1, stdout: '', stderr: 'host command could not run: x', notRun: true }).kind).toBe('transient');
  });

  it('names the change Skeema refused as unsafe', () => {
    const stderr = '2026 x [ERROR] Preventing execution of unsafe or potentially destructive statement:\n2026 x [ERROR]   # ALTER TABLE `t` DROP COLUMN `age`\n';
    expect(classify({ exitCode: 2, stdout: '', stderr })).toEqual({ kind: 'unsafe', reason: expect.stringContaining('ALTER TABLE `t` DROP COLUMN `age`') });
  });
});

describe('table script output', () => {
  const m = newScriptMarkers('00c0ffee');
  const out = '-- instance: 127.0.0.1:3306\nUSE `db_x`;\nALTER TABLE `t` ADD COLUMN `a` int;\n__OCTODB_DEFINITION_00c0ffee__\nCREATE TABLE `t` (\n  `a` int\n) AUTO_INCREMENT=5 ENGINE=InnoDB\n';
  it('separates the DDL from the definition read back', () => {
    expect(ddlOf(out, m)).toBe('ALTER TABLE `t` ADD COLUMN `a` int;');
    expect(normalizeDefinition(parseDefinition(out, m)!)).toBe('CREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB');
    expect(ddlOf(`${m.definition}\nCREATE TABLE \`t\` (\`a\` int)\n`, m)).toBe('');
    expect(parseDefinition(`${m.noTable}\n`, m)).toBeNull();
    expect(parseDefinition('', m)).toBeUndefined();
  });

  it('reads the desired definition (skeema format) apart from the DDL and the definition read back', () => {
    const diff = `ALTER TABLE \`t\` ADD COLUMN \`b\` int;\n${m.desired}\nCREATE TABLE \`t\` (\n  \`a\` int\n) ENGINE=InnoDB;\n\n${m.definition}\nCREATE TABLE \`t\` (\n  \`a\` int\n) ENGINE=InnoDB\n`;
    expect(ddlOf(diff, m)).toBe('ALTER TABLE `t` ADD COLUMN `b` int;');
    expect(parseDesired(diff, m)).toBe('CREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB;');
    expect(parseDefinition(diff, m)).toBe('CREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB');
    expect(parseDesired(out, m)).toBeUndefined();
  });

  it('reads markers only with the run\'s own nonce: tenant text printing a marker-like line is text', () => {
    const spoof = `ALTER TABLE \`t\` COMMENT 'x\n__OCTODB_DEFINITION__\n${newScriptMarkers('badbadbad').definition}\nCREATE TABLE evil';\n${m.noTable}\n`;
    expect(parseDefinition(spoof, m)).toBeNull();
    expect(ddlOf(spoof, m)).toContain('CREATE TABLE evil');
    expect(newScriptMarkers().definition).not.toBe(newScriptMarkers().definition);
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
    expect(() => buildTableSkeemaScript({ database: 'db_x', table: 't', definition: 'CREATE TABLE t (a int)', tempSchema: '_tmp', markers: m, ddlTimeoutSeconds: 60, ...patch }, 'push')).toThrow(/unsafe/);
  });

  it('base64-encodes the definition so none of it reaches the shell', () => {
    const script = buildTableSkeemaScript({ database: 'db_x', table: 't', definition: "CREATE TABLE t (a varchar(9) DEFAULT '$(reboot)')", tempSchema: '_tmp', markers: m, ddlTimeoutSeconds: 60 }, 'push');
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
