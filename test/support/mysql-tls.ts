import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadMysqlTls, type MysqlTls } from '#adapters/mysql-tls';
import { loadConfig } from '#shared/config';

/** The local server's CA (bin/setup.sh) as OctoDB verifies it: every MySQL connection a test or bench opens uses it. */
export const TEST_CA_FILE = loadConfig().OCTODB_MYSQL_CA_FILE;
/**
 * Without that CA (set-up not run) nothing can be verified: an empty CA, with which every
 * connection fails (the integration tests then skip, servers-setup.ts saying why).
 */
export const TEST_TLS: MysqlTls = await loadMysqlTls(loadConfig()).catch(() => ({ ca: '', rejectUnauthorized: true, verifyIdentity: true }) as const);

/** A CA of a test's own, made with openssl in `dir`: its PEM file. */
export function makeCa(dir: string, name = 'Test CA'): string {
  const file = join(dir, 'ca.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', join(dir, 'ca-key.pem'), '-out', file], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
  return file;
}

/**
 * The server settings bin/setup.sh writes for the local MariaDB (its 90-octodb.cnf), as mariadbd
 * reads them (my_print_defaults): a test's own server can run with exactly those.
 */
export function setupServerArgs(): string[] {
  const setup = readFileSync(join(import.meta.dirname, '..', '..', 'bin', 'setup.sh'), 'utf8');
  const cnf = /cat > "\$SERVER_CNF" <<CNF\n([\s\S]*?)^CNF$/m.exec(setup)?.[1];
  if (!cnf) throw new Error('bin/setup.sh: no server configuration found');
  const dir = mkdtempSync(join(tmpdir(), 'octodb-setup-cnf-'));
  try {
    writeFileSync(join(dir, 'my.cnf'), cnf.replaceAll('$TLS_DIR', dirname(TEST_CA_FILE)));
    const read = spawnSync('my_print_defaults', [`--defaults-file=${join(dir, 'my.cnf')}`, 'mariadbd'], { encoding: 'utf8' });
    if (read.status !== 0) throw new Error(`my_print_defaults: ${read.stderr}`);
    return read.stdout.trim().split('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
