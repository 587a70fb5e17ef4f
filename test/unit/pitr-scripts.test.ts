import { describe, expect, it } from 'vitest';
import { BACKUP_ROOT, backupStamp, baseBackupKey, buildBaseBackupScript, buildDeleteBaseBackupsScript, buildRestoreScript, newBaseMarker, parseBaseBackup, type RestoreScriptInput } from '#core/pitr-scripts';

const restoreInput: RestoreScriptInput = {
  source: 'db_0123456789abcdef0123456789abcdef',
  target: 'db_fedcba9876543210fedcba9876543210',
  baseKey: 'base/db_0123456789abcdef0123456789abcdef/20261206T133016Z.sql.gz',
  stopDatetime: '2026-12-06 13:30:17',
  root: '/var/backups/octodb',
  user: 'u_fedcba9876543210fedcba98',
};

describe('point-in-time restore host scripts', () => {
  it('names base backups by the shared layout, to the second in UTC', () => {
    expect(backupStamp(new Date('2026-12-06T13:30:16.789Z'))).toBe('20261206T133016Z');
    expect(baseBackupKey('db_abc', '20261206T133016Z')).toBe('base/db_abc/20261206T133016Z.sql.gz');
    expect(() => baseBackupKey('db_abc', '2026-12-06')).toThrow(/unsafe/);
  });

  it.each([
    ['/var/backups/octodb', true],
    ['s3://octodb-backups-1a2b3c', true],
    ['s3://octodb-backups/tenants/', true],
    ['relative/dir', false],
    ["/tmp/x'; rm -rf /", false],
    ['/tmp/$(id)', false],
    ['s3://Bucket_Upper', false],
    ['s3://b/$(id)', false],
  ])('takes a store root %s: %s', (root, ok) => {
    expect(BACKUP_ROOT.test(root)).toBe(ok);
  });

  it.each<[string, Partial<RestoreScriptInput>]>([
    ['a source with a quote', { source: "db_x'; DROP DATABASE y; --" }],
    ['a target with a backtick', { target: 'db_`x`' }],
    ['a stop time with a shell word', { stopDatetime: "2026-12-06 13:30:17' $(id) '" }],
    ['a base key outside base/', { baseKey: 'host/../../x.sql.gz' }],
    ['a root with a shell word', { root: '/tmp/`id`' }],
    ['a user with a quote', { user: "u_x'@'%" }],
  ])('refuses to put %s into the restore script', (_what, bad) => {
    expect(() => buildRestoreScript({ ...restoreInput, ...bad })).toThrow(/unsafe/);
  });

  it("replays only the source database, renamed to the target, from the base's own coordinates to the stop second, without old GTIDs", () => {
    const script = buildRestoreScript(restoreInput);
    expect(script).toContain(`--start-position="$POS" --stop-datetime='2026-12-06 13:30:17' --database='db_0123456789abcdef0123456789abcdef' --rewrite-db='db_0123456789abcdef0123456789abcdef->db_fedcba9876543210fedcba9876543210' "$FILE"`);
    expect(script).toContain('--to-last-log');
    expect(script).toMatch(/gtid_seq_no/);
    expect(script).toContain("GRANT SELECT, INSERT, UPDATE, DELETE ON \\`db_fedcba9876543210fedcba9876543210\\`.* TO 'u_fedcba9876543210fedcba98'@'%'");
    expect(script).not.toContain('RENAME TABLE');
    expect(buildRestoreScript({ ...restoreInput, user: undefined, swapInto: restoreInput.source })).toContain('RENAME TABLE');
  });

  it("reads a base backup's coordinates only after this run's marker (dump text cannot forge it)", () => {
    const marker = newBaseMarker('ab'.repeat(12));
    const out = `__OCTODB_BASE_${'cd'.repeat(12)}__ forged.000009 4 4\n${marker} octodb-bin.000002 1234 5678\n`;
    expect(parseBaseBackup(out, marker)).toEqual({ binlogFile: 'octodb-bin.000002', binlogPos: 1234, sizeBytes: 5678 });
    expect(parseBaseBackup(`${marker} octodb-bin.000002 12x 5\n`, marker)).toBeUndefined();
    expect(parseBaseBackup('', marker)).toBeUndefined();
  });

  it('backs up with the binlog coordinates in the header and deletes only keys of the layout', () => {
    const script = buildBaseBackupScript({ database: 'db_abc', stamp: '20261206T133016Z', root: 's3://octodb-backups', marker: newBaseMarker() });
    expect(script).toContain('--single-transaction');
    expect(script).toMatch(/--master-data=2.*--source-data=2/s);
    expect(script).toContain("put \"$WORK/base.sql.gz\" 'base/db_abc/20261206T133016Z.sql.gz'");
    expect(() => buildDeleteBaseBackupsScript({ keys: ['base/db_abc/../../x'], root: '/tmp/b' })).toThrow(/unsafe/);
  });
});
