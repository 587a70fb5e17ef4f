import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPlanScript, newPlanMarkers } from '#core/plan-scripts';
import { buildAlterPlanScript, buildDropDatabaseScript, buildDropDatabasesScript, buildProvisionScript, buildSchemaPushScript, buildStopDdlScript, buildTableBackupScript, buildTableSkeemaScript, newScriptMarkers } from '#core/host-scripts';

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

describe('TLS in host scripts', () => {
  /**
   * Runs a script with stand-ins for the clients on PATH: `skeema` records its CA (SSL_CERT_FILE),
   * its arguments and its directory's .skeema; `mysql` answers as MariaDB and records its arguments
   * (reading what is piped into it; with -e its stdin is the script itself).
   */
  function runWithRecordingClients(script: string): { skeema: string[]; mysql: string[]; stderr: string } {
    const dir = mkdtempSync(join(tmpdir(), 'octodb-tls-script-'));
    try {
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'skeema'), `#!/bin/bash\necho "CA=$SSL_CERT_FILE ARGS=$* CFG=$(tr '\\n' ' ' < .skeema 2>/dev/null)" >> ${dir}/skeema.log\n`, { mode: 0o755 });
      writeFileSync(join(bin, 'mysql'), `#!/bin/bash\necho "$*" >> ${dir}/mysql.log\ncase "$*" in *" -e "*) ;; *) cat > /dev/null;; esac\ncase "$*" in *VERSION*) echo 10.11.9-MariaDB;; *COUNT*) echo 0;; esac\n`, { mode: 0o755 });
      const run = spawnSync('bash', ['-s'], { input: script, encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH}`, HOME: dir, OCTODB_DB_CA: '/ca/of/octodb.pem' } });
      const lines = (file: string) => (existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8').trim().split('\n') : []);
      return { skeema: lines('skeema.log'), mysql: lines('mysql.log'), stderr: run.stderr };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const table = { database: valid.database, table: 't', definition: 'CREATE TABLE t (a int)', tempSchema: '_skeema_tmp_abc', markers: newScriptMarkers('0123456789abcdef'), ddlTimeoutSeconds: 7 };

  it.each([
    ['schema push', buildSchemaPushScript({ schema: 'octodb_meta', files: valid.templateFiles, tempSchema: '_t' })],
    ['provisioning', buildProvisionScript(valid)],
    ['table push (MariaDB: a server time limit too)', buildTableSkeemaScript(table, 'push')],
    ['table validate', buildTableSkeemaScript(table, 'diff')],
    ['alter plan', buildAlterPlanScript({ scratch: '_scratch_x', table: 't', from: 'CREATE TABLE t (a int)', to: 'CREATE TABLE t (a bigint)', tempSchema: '_t' })],
    ['migration plan', buildPlanScript({ database: valid.database, tempSchema: '_t', tables: [{ table: 't', definition: 'CREATE TABLE t (a int)' }], markers: newPlanMarkers() })],
  ])('%s: every Skeema run verifies the server over TLS against the CA alone', (_name, script) => {
    const { skeema, stderr } = runWithRecordingClients(script);
    expect(skeema.length, stderr).toBeGreaterThan(0);
    for (const run of skeema) {
      expect(run).toContain('CA=/ca/of/octodb.pem ');
      expect(run).toContain('connect-options=tls=true');
      // A --connect-options on the command line replaces the file's: it must carry tls=true too.
      const cli = /--connect-options=(\S+)/.exec(run)?.[1];
      if (cli) expect(cli.split(',')).toContain('tls=true');
    }
  });

  it("creates the tenant's MySQL user REQUIRE SSL", () => {
    const { mysql } = runWithRecordingClients(buildProvisionScript(valid));
    expect(mysql.find((args) => args.includes('CREATE USER'))).toMatch(new RegExp(`CREATE USER '${valid.user}'@'%' IDENTIFIED BY '[0-9a-f]{48}' REQUIRE SSL`));
  });
});
