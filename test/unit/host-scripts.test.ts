import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildDropDatabaseScript, buildDropDatabasesScript, buildProvisionScript, buildSchemaPushScript, buildStopDdlScript, buildTableBackupScript, buildTableSkeemaScript, newScriptMarkers } from '#core/host-scripts';

const valid = {
  database: 'db_0123456789abcdef0123456789abcdef',
  user: 'u_0123456789abcdef01234567',
  templateFiles: { 'customers.sql': 'CREATE TABLE customers (id int PRIMARY KEY);' },
  tempSchema: '_skeema_tmp_abc123',
};
const bashSyntaxOk = (script: string) => {
  execFileSync('bash', ['-n'], { input: script });
  return true;
};

describe('buildProvisionScript', () => {
  it('produces a script bash accepts, creating the database, a DML-only user and pushing the template', () => {
    const script = buildProvisionScript(valid);
    expect(bashSyntaxOk(script)).toBe(true);
    expect(script).toContain(`CREATE DATABASE \\\`${valid.database}\\\``);
    expect(script).toContain(`GRANT SELECT, INSERT, UPDATE, DELETE ON \\\`${valid.database}\\\`.* TO '${valid.user}'@'%'`);
    expect(script).toContain(`--temp-schema='${valid.tempSchema}'`);
    expect(script).toMatch(/trap finish EXIT/);
  });

  it('removes a leftover database and user of an earlier attempt before creating them', () => {
    const lines = buildProvisionScript(valid).split('\n');
    const preClean = lines.indexOf(`sql "DROP DATABASE IF EXISTS \\\`${valid.database}\\\`; DROP USER IF EXISTS '${valid.user}'@'%'"`);
    const create = lines.findIndex((l) => l.startsWith(`sql "CREATE DATABASE \\\`${valid.database}\\\``));
    expect(preClean).toBeGreaterThan(lines.indexOf('trap finish EXIT'));
    expect(preClean).toBe(create - 1);
  });

  it('puts no tenant password into the script (it is set later over the admin connection)', () => {
    const script = buildProvisionScript(valid);
    expect(script).toMatch(/IDENTIFIED BY '\$\(head -c 24 \/dev\/urandom/);
  });

  it('carries template SQL only base64-encoded, so hostile content never reaches the shell', () => {
    const hostile = "CREATE TABLE x (a int); ' \"; $(reboot) `touch /tmp/pwned` \n EOF";
    const script = buildProvisionScript({ ...valid, templateFiles: { 'x.sql': hostile } });
    expect(script).not.toContain('reboot');
    expect(script).not.toContain('pwned');
    expect(script).toContain(Buffer.from(hostile).toString('base64'));
    expect(bashSyntaxOk(script)).toBe(true);
  });

  it.each([
    ['database', { database: "db_x`; DROP DATABASE mysql; --" }],
    ['database with a quote', { database: "db_x'" }],
    ['database too long', { database: `db_${'a'.repeat(70)}` }],
    ['user', { user: "u_x'@'%' IDENTIFIED BY 'x" }],
    ['user over 32 characters', { user: `u_${'a'.repeat(31)}` }],
    ['temp schema', { tempSchema: "x' --foo" }],
    ['template file name with a slash', { templateFiles: { '../../etc/passwd.sql': 'x' } }],
    ['template file name with a quote', { templateFiles: { "a'b.sql": 'x' } }],
    ['template file that is not .sql', { templateFiles: { 'run.sh': 'x' } }],
  ])('refuses an unsafe %s', (_label, patch) => {
    expect(() => buildProvisionScript({ ...valid, ...patch })).toThrow(/refusing to put an unsafe/);
  });
});

describe('other host scripts', () => {
  it('builds a schema push and a drop script that bash accepts', () => {
    expect(bashSyntaxOk(buildSchemaPushScript({ schema: 'octodb_meta', files: valid.templateFiles, tempSchema: '_t1' }))).toBe(true);
    const drop = buildDropDatabaseScript({ database: valid.database, user: valid.user });
    expect(bashSyntaxOk(drop)).toBe(true);
    expect(drop).toContain(`DROP DATABASE IF EXISTS \\\`${valid.database}\\\``);
    expect(drop).toContain(`DROP USER IF EXISTS '${valid.user}'@'%'`);
  });

  it("drops a chunk of databases in two mysql client runs, whatever the chunk's size", () => {
    const targets = Array.from({ length: 100 }, (_, i) => ({ database: `db_${String(i).padStart(32, '0')}`, user: `u_${String(i).padStart(29, '0')}` }));
    const drop = buildDropDatabasesScript(targets);
    expect(bashSyntaxOk(drop)).toBe(true);
    // The sessions' lookup (a KILL per open session only) and one run of every DROP.
    expect(drop.split('\n').filter((line) => line.includes('sql "'))).toHaveLength(2);
    for (const t of targets) expect(drop).toContain(`DROP USER IF EXISTS '${t.user}'@'%'`);
  });

  it('refuses unsafe names in them too', () => {
    expect(() => buildSchemaPushScript({ schema: 'a;b', files: {}, tempSchema: '_t' })).toThrow();
    expect(() => buildDropDatabaseScript({ database: 'db_x', user: "u'" })).toThrow();
    expect(() => buildDropDatabasesScript([{ database: 'db_ok', user: 'u_ok' }, { database: 'db`; DROP DATABASE x', user: 'u_y' }])).toThrow();
  });
});

describe('table scripts', () => {
  const markers = newScriptMarkers('0123456789abcdef');
  const input = { database: valid.database, table: 't', definition: 'CREATE TABLE t (a int)', tempSchema: '_skeema_tmp_abc', markers, ddlTimeoutSeconds: 7 };

  it('prints only markers carrying the run\'s nonce', () => {
    for (const script of [buildTableSkeemaScript(input, 'push'), buildTableSkeemaScript(input, 'diff'), buildTableBackupScript({ ...input, jobId: '0'.repeat(36) })]) {
      expect(bashSyntaxOk(script)).toBe(true);
      expect(script.match(/__OCTODB_[A-Z_]+[0-9a-f]*__/g)?.every((m) => m.includes('0123456789abcdef'))).toBe(true);
    }
    expect(() => newScriptMarkers('not hex\n')).toThrow();
  });

  it('runs the push under a watchdog that kills Skeema and then its statements on the server', () => {
    const script = buildTableSkeemaScript(input, 'push');
    expect(script).toContain('timeout -s KILL 9 skeema push');
    expect(script).toContain('--connect-options=tls=true,max_statement_time=7');
    expect(script).toMatch(/if \[ "\$RC" -eq 137 \]; then[\s\S]*stop_ddl\n  echo "__OCTODB_DDL_TIMEOUT_0123456789abcdef__"/);
    expect(script).toContain(`db IN ('${valid.database}', '_skeema_tmp_abc')`);
    expect(buildTableSkeemaScript({ ...input, serverTimeLimit: false }, 'push')).not.toContain('max_statement_time');
    expect(buildTableSkeemaScript(input, 'diff')).not.toContain('timeout -s KILL');
  });

  it("stops what an earlier try left running in the database before it pushes (a dead worker's statement never races the push)", () => {
    const script = buildTableSkeemaScript(input, 'push');
    expect(script).toMatch(/\nstop_ddl\nLIMIT=""\n[\s\S]*skeema push/);
    expect(buildTableSkeemaScript(input, 'diff')).not.toContain('stop_ddl');
  });

  it('builds a stop script bash accepts, refusing unsafe names', () => {
    expect(bashSyntaxOk(buildStopDdlScript({ database: valid.database, tempSchema: '_t' }))).toBe(true);
    expect(() => buildStopDdlScript({ database: "db_x'", tempSchema: '_t' })).toThrow(/unsafe/);
  });
});
