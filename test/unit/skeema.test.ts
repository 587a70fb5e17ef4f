import { describe, expect, it } from 'vitest';
import { newScriptMarkers } from '#core/host-scripts';
import type { HostRunResult } from '#core/ports';
import { NOT_RUN, parseTableScript, SkeemaExit, skeemaOutcome, skeemaStep, type ScriptRun } from '#core/skeema';

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
  ] as const)('%s', async (_label, mode, result, expected) => {
    expect(await skeemaStep(runner(result), 'update', job, def, mode, false, { ddlTimeoutSeconds: 60, scriptTimeoutSeconds: 600 }, m)).toMatchObject(expected);
  });
});
