/**
 * The host backup scripts (lib/host/octodb-backup.sh, bin/restore-host.sh) run as the host runs
 * them, against a server of the test's own: a HOME whose ~/.my.cnf holds the admin login, the
 * server's port, a store directory and a state directory of their own.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_CA_FILE } from './mysql-tls.ts';

const ROOT = join(import.meta.dirname, '..', '..');
export const BACKUP_SCRIPT = join(ROOT, 'lib', 'host', 'octodb-backup.sh');
export const RESTORE_SCRIPT = join(ROOT, 'bin', 'restore-host.sh');

export interface ScriptRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface BackupSite {
  dir: string;
  store: string;
  /** Runs lib/host/octodb-backup.sh against the server on `port`. */
  backup(port: number, command: 'base' | 'ship'): ScriptRun;
  /** Runs bin/restore-host.sh into the server on `port`. */
  restore(port: number, args: string[]): ScriptRun;
  remove(): void;
}

export function backupSite(login = { user: 'octodb', password: 'octodb' }): BackupSite {
  const dir = mkdtempSync(join(tmpdir(), 'octodb-hostloss-'));
  const home = join(dir, 'home');
  mkdirSync(home);
  // The servers require TLS (startOwnMariaDb): the client verifies them against the local CA, as on a host.
  writeFileSync(join(home, '.my.cnf'), `[client]\nuser=${login.user}\npassword=${login.password}\nssl-ca=${TEST_CA_FILE}\nssl-verify-server-cert\n`, { mode: 0o600 });
  const store = join(dir, 'store');
  const run = (script: string, port: number, args: string[]): ScriptRun => {
    const r = spawnSync('bash', [script, ...args], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: home, OCTODB_DB_PORT: String(port), OCTODB_BACKUP_DEST: store, OCTODB_BACKUP_STATE: join(dir, `state-${port}`) },
      timeout: 300_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  return {
    dir,
    store,
    backup: (port, command) => run(BACKUP_SCRIPT, port, [command]),
    restore: (port, args) => run(RESTORE_SCRIPT, port, args),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Arguments for the binlogs production has: row-based, named as the host names them, in the datadir. */
export const BINLOG_ARGS = ['--log-bin=octodb-bin', '--binlog-format=ROW', '--server-id=1'];
