/**
 * First-boot script of the MySQL host (Amazon Linux 2023). Installs MySQL from MySQL's own dnf
 * repository (every package GPG-verified), a pinned Skeema release (sha256-verified), creates the
 * admin account from Secrets Manager and writes root's ~/.my.cnf with it, so host scripts sent by
 * SSM run `mysql` and `skeema` without a password on any command line.
 */
export interface HostBootstrap {
  region: string;
  adminSecretArn: string;
  mysqlSeries: '8.0' | '8.4';
  skeemaVersion: string;
  skeemaArch: 'arm64' | 'amd64';
  skeemaSha256: string;
}

export function hostBootstrapCommands(b: HostBootstrap): string[] {
  const skeemaUrl = `https://github.com/skeema/skeema/releases/download/v${b.skeemaVersion}/skeema_${b.skeemaVersion}_linux_${b.skeemaArch}.tar.gz`;
  return [
    'set -euo pipefail',
    'exec > >(tee -a /var/log/octodb-bootstrap.log) 2>&1',
    'export HOME=/root # cloud-init may leave HOME unset; mysql reads ~/.my.cnf',
    'dnf install -y --setopt=install_weak_deps=False aws-cfn-bootstrap python3 tar gzip openssl',

    '# MySQL community server from repo.mysql.com; dnf checks each package against the MySQL GPG key.',
    'rpm --import https://repo.mysql.com/RPM-GPG-KEY-mysql-2023',
    "cat > /etc/yum.repos.d/mysql-community.repo <<'REPO'",
    `[mysql-${b.mysqlSeries.replace('.', '')}-community]`,
    `name=MySQL ${b.mysqlSeries} Community Server`,
    `baseurl=https://repo.mysql.com/yum/mysql-${b.mysqlSeries}-community/el/9/$basearch/`,
    'enabled=1',
    'gpgcheck=1',
    'repo_gpgcheck=0',
    'gpgkey=https://repo.mysql.com/RPM-GPG-KEY-mysql-2023',
    'REPO',
    'dnf install -y mysql-community-server mysql-community-client',
    "cat > /etc/my.cnf.d/octodb.cnf <<'CNF'",
    '[mysqld]',
    'skip_name_resolve=ON',
    'max_connections=400',
    'character_set_server=utf8mb4',
    'collation_server=utf8mb4_unicode_ci',
    'CNF',
    'systemctl enable --now mysqld',

    '# Skeema, pinned: the tarball must match the configured sha256 or the bootstrap stops.',
    `curl -fsSL --retry 5 -o /tmp/skeema.tgz '${skeemaUrl}'`,
    `echo '${b.skeemaSha256}  /tmp/skeema.tgz' | sha256sum -c -`,
    'tar -xzf /tmp/skeema.tgz -C /usr/local/bin skeema',
    'chmod 755 /usr/local/bin/skeema && rm -f /tmp/skeema.tgz',
    'ln -sf /usr/local/bin/skeema /usr/bin/skeema',

    '# The admin account (MetaDB, host scripts) from Secrets Manager; the value never touches the disk but ~/.my.cnf.',
    'umask 077',
    `SECRET_JSON="$(aws secretsmanager get-secret-value --region '${b.region}' --secret-id '${b.adminSecretArn}' --query SecretString --output text)"`,
    'ADMIN_USER="$(python3 -c \'import json,sys; print(json.load(sys.stdin)["username"])\' <<<"$SECRET_JSON")"',
    'ADMIN_PASS="$(python3 -c \'import json,sys; print(json.load(sys.stdin)["password"])\' <<<"$SECRET_JSON")"',
    'unset SECRET_JSON',
    '[[ "$ADMIN_USER" =~ ^[A-Za-z0-9_]{1,32}$ && "$ADMIN_PASS" =~ ^[A-Za-z0-9]{24,128}$ ]] || { echo "unexpected admin secret shape" >&2; exit 1; }',
    "TEMP_PASS=\"$(grep 'temporary password' /var/log/mysqld.log | tail -1 | awk '{print $NF}')\"",
    "printf '[client]\\nuser=root\\npassword=\"%s\"\\n' \"$TEMP_PASS\" > /root/.my.cnf",
    'ROOT_PASS="$(openssl rand -hex 24)Aa1!"', // meets the default password policy; discarded after use
    'mysql --connect-expired-password --batch <<SQL',
    "ALTER USER 'root'@'localhost' IDENTIFIED BY '${ROOT_PASS}';",
    'SQL',
    "printf '[client]\\nuser=root\\npassword=\"%s\"\\n' \"$ROOT_PASS\" > /root/.my.cnf",
    '# Passwords here are long machine-made random strings (tenant ones hex); the policy would refuse them.',
    "mysql --batch -e \"UNINSTALL COMPONENT 'file://component_validate_password'\" 2>/dev/null || true",
    'mysql --batch <<SQL',
    "CREATE USER '${ADMIN_USER}'@'%' IDENTIFIED BY '${ADMIN_PASS}';",
    "GRANT ALL PRIVILEGES ON *.* TO '${ADMIN_USER}'@'%' WITH GRANT OPTION;",
    'SQL',
    'unset ROOT_PASS TEMP_PASS',
    "printf '[client]\\nuser=%s\\npassword=\"%s\"\\nhost=127.0.0.1\\nport=3306\\n' \"$ADMIN_USER\" \"$ADMIN_PASS\" > /root/.my.cnf",
    'chmod 600 /root/.my.cnf',
    'unset ADMIN_PASS',
    "mysql --batch -e 'SELECT 1' > /dev/null",
    'skeema version',
    'echo "octodb host ready"',
  ];
}
