import { describe, expect, it } from 'vitest';
import { newScriptMarkers } from '#core/host-scripts';
import type { HostRunResult } from '#core/ports';
import { classify, NOT_RUN, parseTableScript, SkeemaExit, skeemaOutcome, skeemaStep, type ScriptRun } from '#core/skeema';
import { jobOutputLines } from '#core/skeema-output';

// The run's own markers (a pinned nonce): the script prints them, the parser reads only them.
const m = newScriptMarkers('00c0ffee');
const DEFINITION_MARKER = m.definition;
const DESIRED_MARKER = m.desired;
const NO_TABLE_MARKER = m.noTable;
const log = (level: string, message: string) => `2026-01-01 00:00:00 [${level}] ${message}`;
const UNSUPPORTED = [
  log('WARN', 'Skipping table `t`: Skeema does not support generating a diff of this table. Use --debug to see which properties of this table are not supported.'),
  log('WARN', 'Skipped 1 operation due to unsupported feature'),
].join('\n');

describe('skeemaOutcome: Skeema exit codes by name', () => {
  it.each([
    ['success', SkeemaExit.Success, '', 'clean'],
    ['exit 1 with nothing said: differences found (diff)', SkeemaExit.DifferencesOrPartialError, log('INFO', 'Generating diff of 127.0.0.1:3306 db_x'), 'differences'],
    ['exit 1 with a skipped unsupported table: partial error', SkeemaExit.DifferencesOrPartialError, UNSUPPORTED, 'partial-error'],
    ['exit 1 with only the summary line: partial error', SkeemaExit.DifferencesOrPartialError, log('WARN', 'Skipped 2 operations due to unsupported features'), 'partial-error'],
    ['exit 2: fatal', SkeemaExit.FatalError, log('ERROR', 'Error 1064: You have an error in your SQL syntax'), 'fatal'],
    ['exit 2 after skipped problems: fatal', SkeemaExit.FatalError, log('ERROR', 'Skipped 3 operations due to problems'), 'fatal'],
    ['exit 78: bad configuration', SkeemaExit.BadConfig, log('ERROR', 'Option --temp-schema is invalid'), 'bad-config'],
    ['a script the runner could not start', NOT_RUN, 'host command could not run: ECONNRESET', 'not-run'],
    ['any other code (a killed script)', 137, 'killed by signal', 'fatal'],
  ])('%s', (_label, exitCode, stderr, outcome) => {
    expect(skeemaOutcome({ exitCode, stderr })).toBe(outcome);
  });
});

describe('parseTableScript: one parser for a table script output', () => {
  const def = 'CREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB';
  it.each([
    ['a push with DDL and the definition read back', { exitCode: 0, stdout: `-- instance: h:1\nUSE \`db_x\`;\nALTER TABLE \`t\` ADD COLUMN \`a\` int;\n${DEFINITION_MARKER}\n${def}\n` }, { outcome: 'clean', ddl: 'ALTER TABLE `t` ADD COLUMN `a` int;', definition: def, desired: undefined }],
    ['a push that changed nothing', { exitCode: 0, stdout: `${DEFINITION_MARKER}\n${def}\n` }, { outcome: 'clean', ddl: '', definition: def, desired: undefined }],
    ['a rollback that removed a new table', { exitCode: 0, stdout: `DROP TABLE \`t\`;\n${NO_TABLE_MARKER}\n` }, { outcome: 'clean', ddl: 'DROP TABLE `t`;', definition: null, desired: undefined }],
    ['a diff with differences, desired and read back', { exitCode: 1, stdout: `ALTER TABLE \`t\` ADD COLUMN \`b\` int;\n${DESIRED_MARKER}\n${def};\n\n${DEFINITION_MARKER}\n${def}\n` }, { outcome: 'differences', ddl: 'ALTER TABLE `t` ADD COLUMN `b` int;', definition: def, desired: `${def};` }],
    ['a diff that skipped the table', { exitCode: 1, stdout: `${DEFINITION_MARKER}\n${def}\n`, stderr: UNSUPPORTED }, { outcome: 'partial-error', ddl: '', definition: def, desired: undefined }],
    ['a script that printed nothing', { exitCode: 2, stdout: '' }, { outcome: 'fatal', ddl: '', definition: undefined, desired: undefined }],
  ])('%s', (_label, result, parsed) => {
    expect(parseTableScript({ stderr: '', ...result }, m)).toEqual(parsed);
  });
});

describe('skeemaStep: what a step result says', () => {
  const job = { dbId: 'a'.repeat(32), table: 't' };
  const runner = (result: Partial<HostRunResult>): ScriptRun => async () => ({ exitCode: 0, stdout: '', stderr: '', ...result });
  const def = 'CREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB';

  it.each([
    ['a clean push', 'push', { stdout: `ALTER TABLE \`t\` ADD COLUMN \`a\` int;\n${DEFINITION_MARKER}\n${def}\n` }, { ok: true, definition: def, output: 'ALTER TABLE `t` ADD COLUMN `a` int;' }],
    ['a diff with differences left', 'diff', { exitCode: 1, stdout: `ALTER TABLE \`t\` DROP COLUMN \`a\`;\n${DEFINITION_MARKER}\n${def}\n` }, { ok: false, kind: 'permanent', reason: 'skeema diff is not clean after the push: ALTER TABLE `t` DROP COLUMN `a`;' }],
    ['a diff that skipped an unsupported table (not "differences")', 'diff', { exitCode: 1, stdout: `${DEFINITION_MARKER}\n${def}\n`, stderr: UNSUPPORTED }, { ok: false, kind: 'permanent', reason: expect.stringMatching(/^Skeema skipped what it cannot change: Skipping table `t`: .*; Skipped 1 operation due to unsupported feature$/) }],
    ['a push that skipped an unsupported table', 'push', { exitCode: 1, stdout: '', stderr: UNSUPPORTED }, { ok: false, kind: 'permanent', reason: expect.stringMatching(/^Skeema skipped what it cannot change/) }],
    ['a push failing on too many connections', 'push', { exitCode: 2, stderr: log('ERROR', 'Error 1040: Too many connections') }, { ok: false, kind: 'transient', reason: 'Error 1040: Too many connections' }],
    ['a push refused as unsafe', 'push', { exitCode: 2, stderr: `${log('ERROR', 'Preventing execution of unsafe or potentially destructive statement:')}\n${log('ERROR', '  # ALTER TABLE `t` DROP COLUMN `a`')}` }, { ok: false, kind: 'unsafe', reason: expect.stringContaining('ALTER TABLE `t` DROP COLUMN `a`') }],
    ['a script that could not start', 'push', { exitCode: NOT_RUN, stderr: 'host command could not run: SSM throttled' }, { ok: false, kind: 'transient', reason: 'host command could not run: SSM throttled' }],
    ['a push of a table Skeema leaves out (it made no change, the table does not exist)', 'push', { exitCode: 0, stdout: `${NO_TABLE_MARKER}\n` }, { ok: false, kind: 'permanent', reason: expect.stringMatching(/^Skeema made no change and the table does not exist/) }],
  ] as const)('%s', async (_label, mode, result, expected) => {
    expect(await skeemaStep(runner(result), 'update', job, def, mode, false, { ddlTimeoutSeconds: 60, scriptTimeoutSeconds: 600 }, m)).toMatchObject(expected);
  });
});

// Skeema 1.9's stderr for a failed push, as the host script prints it (MariaDB 10.11).
const WORKSPACE_CHATTER = [
  log('INFO', ' Wrote /tmp/tmp.smBGs32gPM/s/.skeema -- updated flavor to mariadb:10.11'),
  log('INFO', ' Updating /tmp/tmp.smBGs32gPM/s to reflect 127.0.0.1:3306 db_x'),
  log('INFO', ' Created /tmp/tmp.smBGs32gPM/s/t.sql (165 bytes)'),
  '',
].join('\n');
const WORKSPACE_ERROR = `${WORKSPACE_CHATTER}\n${[
  log('ERROR', "/tmp/tmp.smBGs32gPM/s/t.sql:1:1: Error executing DDL in workspace: Error 1074: Column length too big for column 'v' (max = 16383); use BLOB or TEXT instead"),
  log('WARN', ' Skipping /tmp/tmp.smBGs32gPM/s due to 1 SQL error'),
  log('ERROR', 'Skipped 1 operation due to problem'),
].join('\n')}\n`;
const SYNTAX_ERROR = `${WORKSPACE_CHATTER}\n${[
  log('ERROR', "/tmp/tmp.yaOZvG5Oys/s/t.sql:1:1: SQL syntax error: Error 1064: You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'bar)' at line 1"),
  log('WARN', ' Skipping /tmp/tmp.yaOZvG5Oys/s due to 1 SQL error'),
  log('ERROR', 'Skipped 1 operation due to problem'),
].join('\n')}\n`;
const ALTER_ERROR = `${WORKSPACE_CHATTER}\n${[
  log('INFO', ' Pushing changes from /tmp/tmp.qLp0hmDyTB/s/*.sql to 127.0.0.1:3306 db_x'),
  log('ERROR', "Error running DDL on 127.0.0.1:3306 db_x: Error 1062: Duplicate entry 'a' for key 'uq'"),
  log('INFO', ' 127.0.0.1:3306 db_x: push complete'),
  log('ERROR', 'Skipped 1 operation due to problem'),
].join('\n')}\n`;

describe("classify: a failure's reason is the server's own error", () => {
  it.each([
    ['an error in the workspace', WORKSPACE_ERROR, "Error 1074: Column length too big for column 'v' (max = 16383); use BLOB or TEXT instead"],
    ['a syntax error, with its position', SYNTAX_ERROR, "Error 1064: You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'bar)' at line 1"],
    ['an ALTER failing on the rows', ALTER_ERROR, "Error 1062: Duplicate entry 'a' for key 'uq'"],
    ['a server message spread over lines (tenant text with a newline)', log('ERROR', "Error running DDL on 10.0.0.5:3306 db_x: Error 1062: Duplicate entry 'a\nb' for key 'uq'"), "Error 1062: Duplicate entry 'a\nb' for key 'uq'"],
    ['an error without a number: the line without paths and endpoints', log('ERROR', 'Unable to connect to 10.0.0.5:3306: dial tcp: connection refused'), 'Unable to connect to the database host: dial tcp: connection refused'],
    ['only a summary line', log('ERROR', 'Skipped 3 operations due to problems'), 'Skipped 3 operations due to problems'],
    ['an account in a message', log('ERROR', "Error 1045: Access denied for user 'octodb'@'10.0.0.9' (using password: YES)"), "Error 1045: Access denied for user '…' (using password: YES)"],
  ])('%s', (_label, stderr, reason) => {
    expect(classify({ exitCode: 2, stdout: '', stderr }).reason).toBe(reason);
  });
});

describe("jobOutputLines: a job's log shows the DDL and the server's answer, nothing of the host", () => {
  const def = 'CREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB';
  it('a failed ALTER: the DDL run, the definition read back in words, the error without paths, endpoints or summaries', () => {
    const lines = jobOutputLines({ exitCode: 2, stdout: `-- instance: 127.0.0.1:3306\nUSE \`db_x\`;\nALTER TABLE \`t\` ADD UNIQUE KEY \`uq\` (\`v\`);\n${DEFINITION_MARKER}\n${def}\n`, stderr: ALTER_ERROR });
    expect(lines).toEqual([
      { level: 'INFO', message: `USE \`db_x\`;\nALTER TABLE \`t\` ADD UNIQUE KEY \`uq\` (\`v\`);\ndefinition read back:\n${def}` },
      { level: 'ERROR', message: "[ERROR] Error running DDL on db_x: Error 1062: Duplicate entry 'a' for key 'uq'\n[INFO] db_x: push complete" },
    ]);
  });

  it.each([
    ['an error in the workspace', WORKSPACE_ERROR],
    ['a syntax error', SYNTAX_ERROR],
    ['an ALTER failing on the rows', ALTER_ERROR],
  ])('%s: no marker, temp path, endpoint or summary line', (_label, stderr) => {
    const text = jobOutputLines({ exitCode: 2, stdout: `${NO_TABLE_MARKER}\n${DESIRED_MARKER}\n`, stderr }).map((l) => l.message).join('\n');
    expect(text).not.toMatch(/__OCTODB|\/tmp|127\.0\.0\.1|3306|Skipped \d|Skipping/);
    expect(text).toMatch(/Error 10\d\d: /);
  });
});
