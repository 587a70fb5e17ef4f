import { BINLOG_SETTINGS } from './host-backup.ts';
import { CLIENT_TLS_LINES, keepCaCommands, MYSQL_TLS_SETTINGS, serverCertificateCommands } from './host-tls.ts';

/**
 * First-boot script of the MySQL host (Amazon Linux 2023). Attaches and mounts the data volume at
 * MySQL's datadir (formatting it only when it has never been used), installs MySQL from MySQL's
 * own dnf repository (every package GPG-verified), a pinned Skeema release (sha256-verified),
 * creates the admin account from Secrets Manager — unless the volume already holds a MySQL data
 * directory, whose accounts stay as they are — and writes root's ~/.my.cnf with it, so host
 * scripts sent by SSM run `mysql` and `skeema` without a password on any command line. MySQL
 * takes TLS connections only, with the host's own CA and certificate (lib/host-tls.ts).
 */
export interface HostBootstrap {
  region: string;
  adminSecretArn: string;
  /** The retained EBS volume holding /var/lib/mysql. */
  dataVolumeId: string;
  /** Device name the volume is attached as (e.g. /dev/sdf). */
  dataDevice: string;
  mysqlSeries: '8.0' | '8.4';
  skeemaVersion: string;
  skeemaArch: 'arm64' | 'amd64';
  skeemaSha256: string;
  /** The host's id in MetaDB: the dimension of the metrics the host publishes. */
  hostId: string;
  /** The private DNS name the functions reach MySQL at: in the server certificate (lib/host-tls.ts). */
  mysqlHostname: string;
  /** The SSM parameter the host publishes its CA certificate in. */
  caParameterName: string;
}

/** CloudWatch namespace and metric names the host publishes every minute (lib/watch.ts alarms on them). */
export const HOST_METRICS = {
  namespace: 'OctoDB',
  diskUsedPercent: 'DiskUsedPercent',
  mysqlConnections: 'MysqlThreadsConnected',
  /** The file systems measured: MySQL's data volume and the root volume. */
  paths: ['/var/lib/mysql', '/'],
} as const;

/** The MySQL server settings OctoDB relies on (the alarms read max_connections too). */
export const MYSQL_SERVER_SETTINGS = {
  // The buffer pool sized to the host (half of 1–4 GB, three quarters above; MySQL's own default is
  // 128 MB): with the default, one tenant's 100 MB write evicted every other tenant's pages.
  innodb_dedicated_server: 'ON',
  skip_name_resolve: 'ON',
  max_connections: 400,
  character_set_server: 'utf8mb4',
  collation_server: 'utf8mb4_unicode_ci',
} as const;

/**
 * The host's whole /etc/my.cnf: the community RPM's own settings (the bootstrap reads the temporary
 * root password from its log-error file) and OctoDB's.
 */
function mysqlConfigLines(): string[] {
  return [
    '# Written by the OctoDB host bootstrap (lib/host-user-data.ts).',
    '[mysqld]',
    'datadir=/var/lib/mysql',
    'socket=/var/lib/mysql/mysql.sock',
    'log-error=/var/log/mysqld.log',
    'pid-file=/var/run/mysqld/mysqld.pid',
    ...Object.entries({ ...MYSQL_SERVER_SETTINGS, ...BINLOG_SETTINGS, ...MYSQL_TLS_SETTINGS }).map(([k, v]) => `${k}=${v}`),
  ];
}

export function hostBootstrapCommands(b: HostBootstrap): string[] {
  const tls = { region: b.region, hostname: b.mysqlHostname, caParameterName: b.caParameterName };
  const skeemaUrl = `https://github.com/skeema/skeema/releases/download/v${b.skeemaVersion}/skeema_${b.skeemaVersion}_linux_${b.skeemaArch}.tar.gz`;
  return [
    'set -euo pipefail',
    'exec > >(tee -a /var/log/octodb-bootstrap.log) 2>&1',
    'export HOME=/root # cloud-init may leave HOME unset; mysql reads ~/.my.cnf',
    'dnf install -y --setopt=install_weak_deps=False aws-cfn-bootstrap python3 tar gzip openssl xfsprogs',
    ...dataVolumeCommands(b),

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
    ...serverCertificateCommands(tls),
    "# /etc/my.cnf itself: the RPM's has no !includedir, so mysqld would never read a file in /etc/my.cnf.d.",
    "# The RPM marks it %config(noreplace): an upgrade keeps this one (and leaves its own as my.cnf.rpmnew).",
    "cat > /etc/my.cnf <<'CNF'",
    ...mysqlConfigLines(),
    'CNF',
    '# mysqld runs only with the data volume mounted: never on an empty datadir on the root volume.',
    'chown -R mysql:mysql /var/lib/mysql && chmod 751 /var/lib/mysql',
    'if command -v restorecon > /dev/null; then restorecon -R /var/lib/mysql; fi',
    'mkdir -p /etc/systemd/system/mysqld.service.d',
    "printf '[Unit]\\nRequiresMountsFor=/var/lib/mysql\\n' > /etc/systemd/system/mysqld.service.d/octodb-data.conf",
    'systemctl daemon-reload',
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
    'if [ "$EXISTING_DATA" = 0 ]; then',
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
    "CREATE USER '${ADMIN_USER}'@'%' IDENTIFIED BY '${ADMIN_PASS}' REQUIRE SSL;",
    "GRANT ALL PRIVILEGES ON *.* TO '${ADMIN_USER}'@'%' WITH GRANT OPTION;",
    'SQL',
    'unset ROOT_PASS TEMP_PASS',
    'else',
    '  echo "MySQL data found on the data volume: its accounts are kept (the admin password is the secret\'s)"',
    'fi',
    `printf '[client]\\nuser=%s\\npassword="%s"\\nhost=127.0.0.1\\nport=3306\\n${CLIENT_TLS_LINES}' "$ADMIN_USER" "$ADMIN_PASS" > /root/.my.cnf`,
    'chmod 600 /root/.my.cnf',
    'unset ADMIN_PASS',
    "mysql --batch -e 'SELECT 1' > /dev/null || { echo \"cannot log in to MySQL as $ADMIN_USER: with the secret's password (a data volume from another stack keeps that stack's admin password)\" >&2; exit 1; }",
    'skeema version',
    ...keepCaCommands(tls),
    ...hostMetricsCommands(b),
    'echo "octodb host ready"',
  ];
}

/**
 * A systemd timer publishing, every minute, what EC2 does not measure: the used share of each file
 * system in HOST_METRICS.paths and MySQL's Threads_connected (the disk is sent even when MySQL does not answer).
 */
function hostMetricsCommands(b: HostBootstrap): string[] {
  const m = HOST_METRICS;
  const host = `{"Name":"HostId","Value":"${b.hostId}"}`;
  return [
    '# Host metrics to CloudWatch (EC2 measures neither disk use nor MySQL).',
    "cat > /usr/local/bin/octodb-metrics <<'SH'",
    '#!/bin/bash',
    'set -uo pipefail',
    'export HOME=/root',
    'DATA=()',
    `for path in ${m.paths.join(' ')}; do`,
    '  used="$(df --output=pcent "$path" | tail -1 | tr -dc 0-9)"',
    `  DATA+=("$(printf '{"MetricName":"${m.diskUsedPercent}","Dimensions":[${host},{"Name":"Path","Value":"%s"}],"Value":%s,"Unit":"Percent"}' "$path" "$used")")`,
    'done',
    `threads="$(mysql --batch -N -e "SHOW GLOBAL STATUS LIKE 'Threads_connected'" | awk '{print $2}')"`,
    `[[ "$threads" =~ ^[0-9]+$ ]] && DATA+=("$(printf '{"MetricName":"${m.mysqlConnections}","Dimensions":[${host}],"Value":%s,"Unit":"Count"}' "$threads")")`,
    `aws cloudwatch put-metric-data --region '${b.region}' --namespace '${m.namespace}' --metric-data "[$(IFS=,; echo "\${DATA[*]}")]"`,
    'SH',
    'chmod 700 /usr/local/bin/octodb-metrics',
    "printf '[Unit]\\nDescription=OctoDB host metrics\\n[Service]\\nType=oneshot\\nExecStart=/usr/local/bin/octodb-metrics\\n' > /etc/systemd/system/octodb-metrics.service",
    "printf '[Timer]\\nOnBootSec=1min\\nOnUnitActiveSec=1min\\n[Install]\\nWantedBy=timers.target\\n' > /etc/systemd/system/octodb-metrics.timer",
    'systemctl daemon-reload',
    'systemctl enable --now octodb-metrics.timer',
  ];
}

/**
 * Attaches the data volume to this instance and mounts it at /var/lib/mysql (fstab by UUID).
 * A volume without a filesystem is formatted only when its first MiB is all zeros (never used);
 * a volume another host still holds stops the bootstrap with the way out in the log.
 */
function dataVolumeCommands(b: HostBootstrap): string[] {
  return [
    '# The MySQL data volume: retained by CloudFormation, attached here by the host itself.',
    `DATA_VOLUME='${b.dataVolumeId}'`,
    'IMDS_TOKEN="$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H \'X-aws-ec2-metadata-token-ttl-seconds: 300\')"',
    'INSTANCE_ID="$(curl -fsS -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" http://169.254.169.254/latest/meta-data/instance-id)"',
    '# Retried: the instance tag and role policy the grant checks may take a moment to be visible.',
    'ATTACHED=0',
    'for _ in $(seq 1 12); do',
    `  if ATTACH_ERR="$(aws ec2 attach-volume --region '${b.region}' --volume-id "$DATA_VOLUME" --instance-id "$INSTANCE_ID" --device '${b.dataDevice}' 2>&1 > /dev/null)"; then ATTACHED=1; break; fi`,
    '  echo "attach-volume: $ATTACH_ERR" >&2',
    '  case "$ATTACH_ERR" in *VolumeInUse*|*IncorrectState*) break ;; esac',
    '  sleep 10',
    'done',
    'if [ "$ATTACHED" != 1 ]; then',
    '  echo "cannot attach data volume $DATA_VOLUME; if the previous host still holds it, stop that host and detach the volume (docs/deploy.md: replacing the MySQL host)" >&2',
    '  exit 1',
    'fi',
    `NVME_LINK="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_\${DATA_VOLUME//-/}"`,
    'DATA_DEV=""',
    'for _ in $(seq 1 60); do',
    `  for candidate in "$NVME_LINK" '${b.dataDevice}' '${b.dataDevice.replace('/dev/sd', '/dev/xvd')}'; do`,
    '    if [ -b "$candidate" ]; then DATA_DEV="$(readlink -f "$candidate")"; break 2; fi',
    '  done',
    '  sleep 5',
    'done',
    '[ -n "$DATA_DEV" ] || { echo "data volume $DATA_VOLUME did not appear as a block device" >&2; exit 1; }',
    'FSTYPE="$(blkid -o value -s TYPE "$DATA_DEV" || true)"',
    'if [ -z "$FSTYPE" ]; then',
    '  NONZERO="$(head -c 1048576 "$DATA_DEV" | tr -d \'\\000\' | wc -c)"',
    '  [ "$NONZERO" -eq 0 ] || { echo "data volume $DATA_VOLUME has no filesystem but is not blank: not formatting it" >&2; exit 1; }',
    '  mkfs.xfs -L octodb-data "$DATA_DEV"',
    'elif [ "$FSTYPE" != xfs ]; then',
    '  echo "data volume $DATA_VOLUME holds a $FSTYPE filesystem, expected xfs" >&2; exit 1',
    'fi',
    'DATA_UUID="$(blkid -o value -s UUID "$DATA_DEV")"',
    'mkdir -p /var/lib/mysql',
    'grep -q "^UUID=$DATA_UUID " /etc/fstab || echo "UUID=$DATA_UUID /var/lib/mysql xfs defaults,noatime,nofail 0 2" >> /etc/fstab',
    'systemctl daemon-reload',
    'mountpoint -q /var/lib/mysql || mount /var/lib/mysql',
    'if [ -d /var/lib/mysql/mysql ]; then EXISTING_DATA=1; else EXISTING_DATA=0; fi',
  ];
}
