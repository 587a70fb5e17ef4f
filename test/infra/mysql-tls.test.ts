import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_CA_FILE } from '#core/host-scripts';
import { CA_PLACEHOLDER } from '../../lib/database-host.ts';
import { HOST_TLS_DIR, keepCaCommands, serverCertificateCommands } from '../../lib/host-tls.ts';
import { actionsOf, refsIn, resourcesOf, statementsByRole, synth, type Synthesized } from './support.ts';

/**
 * Issue 16, "Encrypted in transit" on AWS: the MySQL host makes its CA and a certificate for the
 * names its clients use, MySQL refuses connections without TLS, and every function with a MySQL
 * login is handed the CA (an SSM parameter the host publishes) to verify the server with. Read
 * from the synthesized template; the certificate commands themselves are run here with openssl.
 */
let s: Synthesized;
let work: string;
const ofType = (type: string) => Object.entries(s.resources).filter(([, r]) => r.Type === type);
const userData = () => {
  const [, instance] = ofType('AWS::EC2::Instance')[0]!;
  return instance.Properties!.UserData['Fn::Base64']['Fn::Join'][1] as unknown[];
};
/** The first-boot script as bash runs it, tokens as placeholders. */
const script = () => userData().map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
const caParameter = () => {
  const found = ofType('AWS::SSM::Parameter');
  expect(found).toHaveLength(1);
  return found[0]!;
};

beforeAll(() => {
  s = synth();
  work = mkdtempSync(join(tmpdir(), 'octodb-host-tls-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const tls = { region: 'eu-west-1', hostname: 'mysql.octodb.internal', caParameterName: 'ca-param' };

/** Runs the host's certificate commands with its paths moved under `root` (IMDS answering `ip`, no mysql user). */
function makeCertificates(root: string, ip: string): { status: number | null; stderr: string } {
  const moved = serverCertificateCommands(tls)
    .join('\n')
    .replaceAll(HOST_TLS_DIR, join(root, 'etc'))
    .replaceAll('/var/lib/mysql/', join(work, 'volume/'));
  const fakes = `set -euo pipefail\ncurl() { case "$*" in *local-ipv4*) echo '${ip}';; *) echo token;; esac; }\nchown() { :; }\nmkdir -p '${join(work, 'volume')}'\n`;
  return spawnSync('bash', ['-c', fakes + moved], { encoding: 'utf8' });
}

const verify = (root: string, check: string[]) =>
  spawnSync('openssl', ['verify', '-CAfile', join(root, 'etc/ca.pem'), ...check, join(root, 'etc/server-cert.pem')], { encoding: 'utf8' }).status;

describe('the MySQL host’s certificate', () => {
  it('is signed by the host’s CA for the name the functions use, its private IP and 127.0.0.1, and for no other name', () => {
    const root = join(work, 'first');
    const made = makeCertificates(root, '10.0.3.7');
    expect(made.status, made.stderr).toBe(0);
    expect(verify(root, ['-verify_hostname', 'mysql.octodb.internal'])).toBe(0);
    expect(verify(root, ['-verify_ip', '10.0.3.7'])).toBe(0);
    expect(verify(root, ['-verify_ip', '127.0.0.1'])).toBe(0); // host scripts on the host itself
    expect(verify(root, ['-verify_hostname', 'mysql.example.com'])).not.toBe(0);
    expect(verify(root, ['-verify_ip', '10.0.3.8'])).not.toBe(0);
  });

  it('is made before mysqld first starts, and the CA is kept on the data volume for the next host', () => {
    const text = script();
    const certificate = text.indexOf(serverCertificateCommands(tls)[0]!);
    expect(certificate).toBeGreaterThan(text.indexOf('dnf install -y mysql-community-server'));
    expect(certificate).toBeLessThan(text.indexOf('systemctl enable --now mysqld'));
    expect(text.indexOf(keepCaCommands(tls)[0]!)).toBeGreaterThan(text.indexOf('systemctl enable --now mysqld'));

    // A replacement host on the same volume: the kept CA, not a new one, signs its certificate.
    const kept = join(work, 'volume');
    spawnSync('bash', ['-c', `cp '${join(work, 'first/etc/ca.pem')}' '${kept}/octodb-ca.pem' && cp '${join(work, 'first/etc/ca-key.pem')}' '${kept}/octodb-ca-key.pem'`]);
    const next = join(work, 'next');
    expect(makeCertificates(next, '10.0.3.9').status).toBe(0);
    expect(readFileSync(join(next, 'etc/ca.pem'), 'utf8')).toBe(readFileSync(join(work, 'first/etc/ca.pem'), 'utf8'));
    expect(verify(next, ['-verify_ip', '10.0.3.9'])).toBe(0);
  });
});

describe('MySQL on the host', () => {
  it('serves that certificate, TLS 1.2+ only, and refuses every connection without TLS (mysqld’s reading of /etc/my.cnf)', () => {
    const cnf = /^cat > \/etc\/my\.cnf <<'CNF'\n([\s\S]*?)^CNF$/m.exec(script())![1]!;
    writeFileSync(join(work, 'my.cnf'), cnf);
    const read = spawnSync('my_print_defaults', [`--defaults-file=${join(work, 'my.cnf')}`, 'mysqld'], { encoding: 'utf8' });
    expect(read.status, read.stderr).toBe(0);
    expect(read.stdout.trim().split('\n')).toEqual(
      expect.arrayContaining([
        '--require_secure_transport=ON',
        `--ssl_ca=${HOST_CA_FILE}`,
        `--ssl_cert=${HOST_TLS_DIR}/server-cert.pem`,
        `--ssl_key=${HOST_TLS_DIR}/server-key.pem`,
        '--tls_version=TLSv1.2,TLSv1.3',
      ]),
    );
  });

  it('has host scripts verify it (root’s ~/.my.cnf: the CA, VERIFY_IDENTITY) and creates the admin account REQUIRE SSL', () => {
    const text = script();
    expect(text).toContain(`ssl-ca=${HOST_CA_FILE}\\nssl-mode=VERIFY_IDENTITY\\n' "$ADMIN_USER" "$ADMIN_PASS" > /root/.my.cnf`);
    expect(text).toMatch(/CREATE USER '\$\{ADMIN_USER\}'@'%' IDENTIFIED BY '\$\{ADMIN_PASS\}' REQUIRE SSL;/);
  });
});

describe('the CA for the functions', () => {
  it('is a parameter the host overwrites with its CA certificate at boot, and the only one it may write', () => {
    const [paramId, param] = caParameter();
    expect(param.Properties!.Value).toBe(CA_PLACEHOLDER);
    expect(param.Properties!.Name).toBeUndefined(); // no fixed name: a second stack never collides
    const parts = userData();
    const put = parts.findIndex((p) => typeof p === 'string' && p.includes('aws ssm put-parameter'));
    expect(put).toBeGreaterThan(-1);
    expect(refsIn(parts.slice(put, put + 4))).toContain(paramId);
    expect(script()).toContain(`--type String --overwrite --value 'file://${HOST_CA_FILE}'`);

    const [roleId] = ofType('AWS::IAM::Role').find(([, r]) => JSON.stringify(r.Properties!.AssumeRolePolicyDocument).includes('ec2.amazonaws.com'))!;
    const writes = statementsByRole(s.resources)[roleId]!.filter((st) => actionsOf(st).some((a) => a.startsWith('ssm:Put')));
    expect(writes).toHaveLength(1);
    expect(actionsOf(writes[0]!)).toEqual(['ssm:PutParameter']);
    expect(refsIn(resourcesOf(writes[0]!)).filter((r) => !r.startsWith('AWS::'))).toEqual([paramId]);
  });

  it('is named to every function holding a MySQL login, each allowed to read that parameter', () => {
    const [paramId] = caParameter();
    const roles = statementsByRole(s.resources);
    const withMysql = ofType('AWS::Lambda::Function').filter(([, f]) => f.Properties!.Environment?.Variables?.OCTODB_MYSQL_URL);
    expect(withMysql.length).toBeGreaterThanOrEqual(9);
    for (const [id, f] of withMysql) {
      expect(f.Properties!.Environment.Variables.OCTODB_MYSQL_CA_PARAMETER, id).toEqual({ Ref: paramId });
      const role = refsIn(f.Properties!.Role)[0]!;
      const reads = roles[role]!.filter((st) => actionsOf(st).includes('ssm:GetParameter') && refsIn(resourcesOf(st)).includes(paramId));
      expect(reads, id).toHaveLength(1);
    }
  });
});
