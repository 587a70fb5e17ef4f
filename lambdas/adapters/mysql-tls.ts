import { readFileSync } from 'node:fs';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { SslOptions } from 'mysql2';
import type { Config, MysqlLogin } from '#shared/config';

/**
 * How every MySQL connection OctoDB makes is secured: TLS 1.2 or later, the server's certificate
 * checked against OctoDB's CA (the host's own, never the public ones) and its name against the
 * host connected to. One object for all connections: mysql2 keeps one TLS context per object and
 * resumes TLS sessions with it.
 */
export type MysqlTls = SslOptions & { ca: string; rejectUnauthorized: true; verifyIdentity: true };

/** A login and how its server is verified: what every admin/API connection is opened with. */
export type TlsLogin = MysqlLogin & { ssl: MysqlTls };

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

export function mysqlTls(caPem: string, source: string): MysqlTls {
  if (!PEM_CERTIFICATE.test(caPem)) throw new Error(`configuration: ${source} holds no PEM certificate (the MySQL server's CA)`);
  return { ca: caPem, rejectUnauthorized: true, verifyIdentity: true, minVersion: 'TLSv1.2' };
}

/**
 * The CA: on AWS from the SSM parameter the MySQL host publishes it in at boot (read once per cold
 * start), else from OCTODB_MYSQL_CA_FILE (bin/setup.sh's local CA).
 */
export async function loadMysqlTls(config: Config): Promise<MysqlTls> {
  const name = config.OCTODB_MYSQL_CA_PARAMETER;
  if (name) {
    const out = await new SSMClient({}).send(new GetParameterCommand({ Name: name }));
    return mysqlTls(out.Parameter?.Value ?? '', `SSM parameter ${name}`);
  }
  let pem: string;
  try {
    pem = readFileSync(config.OCTODB_MYSQL_CA_FILE, 'utf8');
  } catch (error) {
    throw new Error(`configuration: cannot read the MySQL CA certificate OCTODB_MYSQL_CA_FILE=${config.OCTODB_MYSQL_CA_FILE} (bin/setup.sh makes it)`, { cause: error });
  }
  return mysqlTls(pem, config.OCTODB_MYSQL_CA_FILE);
}
