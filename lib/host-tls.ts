import { HOST_CA_FILE } from '#core/host-scripts';

/**
 * TLS of the MySQL host. The host is its own CA: a certificate authority made once and kept on
 * the data volume (so a replacement host attached to it keeps the CA the functions trust), and at
 * each first boot a server certificate it signs for every name clients use: the private DNS name
 * the functions connect to, the instance's private IP, and 127.0.0.1/localhost for host scripts.
 * The CA certificate (never its key) is published in an SSM parameter the functions read at cold
 * start (OCTODB_MYSQL_CA_PARAMETER). MySQL then refuses any TCP connection without TLS.
 */
export const HOST_TLS_DIR = HOST_CA_FILE.slice(0, HOST_CA_FILE.lastIndexOf('/'));
/** Where the CA (certificate and key) is kept on the data volume: MySQL's datadir, readable by root only. */
const KEPT_CA = '/var/lib/mysql/octodb-ca';

/** The [mysqld] lines: the server's certificate, TLS 1.2+, no connection without it (the unix socket counts as secure). */
export const MYSQL_TLS_SETTINGS = {
  ssl_ca: HOST_CA_FILE,
  ssl_cert: `${HOST_TLS_DIR}/server-cert.pem`,
  ssl_key: `${HOST_TLS_DIR}/server-key.pem`,
  tls_version: 'TLSv1.2,TLSv1.3',
  require_secure_transport: 'ON',
} as const;

export interface HostTls {
  region: string;
  /** The name the functions reach MySQL at (the private hosted zone's record). */
  hostname: string;
  /** The SSM parameter the CA certificate is published in. */
  caParameterName: string;
}

/**
 * Before mysqld starts (after the data volume is mounted): the CA, kept or new, and this
 * instance's server certificate. The CA's key is copied onto the data volume once MySQL has
 * initialised it (keepCaCommands), since mysqld refuses to initialise a datadir holding files.
 */
export function serverCertificateCommands(t: HostTls): string[] {
  const dir = HOST_TLS_DIR;
  return [
    '# TLS: the CA (kept on the data volume across hosts) and a server certificate for this instance.',
    `install -d -m 0755 ${dir}`,
    `if [ -f ${KEPT_CA}-key.pem ]; then install -m 0644 ${KEPT_CA}.pem ${dir}/ca.pem && install -m 0600 ${KEPT_CA}-key.pem ${dir}/ca-key.pem; fi`,
    `if [ ! -f ${dir}/ca-key.pem ]; then`,
    `  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=OctoDB MySQL CA' -keyout ${dir}/ca-key.pem -out ${dir}/ca.pem`,
    `  chmod 0600 ${dir}/ca-key.pem && chmod 0644 ${dir}/ca.pem`,
    'fi',
    'IMDS_TOKEN="$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H \'X-aws-ec2-metadata-token-ttl-seconds: 300\')"',
    'PRIVATE_IP="$(curl -fsS -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" http://169.254.169.254/latest/meta-data/local-ipv4)"',
    `openssl req -newkey rsa:2048 -nodes -subj '/CN=${t.hostname}' -keyout ${dir}/server-key.pem -out ${dir}/server.csr`,
    `openssl x509 -req -days 3650 -in ${dir}/server.csr -CA ${dir}/ca.pem -CAkey ${dir}/ca-key.pem -CAcreateserial -out ${dir}/server-cert.pem \\`,
    `  -extfile <(printf 'subjectAltName=DNS:${t.hostname},IP:%s,IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' "$PRIVATE_IP")`,
    `rm -f ${dir}/server.csr`,
    `chown mysql:mysql ${dir}/server-key.pem && chmod 0600 ${dir}/server-key.pem && chmod 0644 ${dir}/server-cert.pem`,
  ];
}

/** Once mysqld runs: the CA goes onto the data volume (first host only) and its certificate to the functions. */
export function keepCaCommands(t: HostTls): string[] {
  return [
    `if [ ! -f ${KEPT_CA}-key.pem ]; then install -m 0600 -o root -g root ${HOST_TLS_DIR}/ca-key.pem ${KEPT_CA}-key.pem && install -m 0644 ${HOST_CA_FILE} ${KEPT_CA}.pem; fi`,
    '# The functions verify MySQL against this CA (read from the parameter at cold start).',
    `aws ssm put-parameter --region '${t.region}' --name '${t.caParameterName}' --type String --overwrite --value 'file://${HOST_CA_FILE}' > /dev/null`,
  ];
}

/** ~/.my.cnf's TLS lines for MySQL 8's client: the host's own CA, the certificate's name checked (127.0.0.1 is in it). */
export const CLIENT_TLS_LINES = `ssl-ca=${HOST_CA_FILE}\\nssl-mode=VERIFY_IDENTITY\\n`;
