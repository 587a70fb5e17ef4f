import { loadMysqlTls } from '#adapters/mysql-tls';
import { loadConfig } from '#shared/config';

/** The local server's CA (bin/setup.sh) as OctoDB verifies it: every MySQL connection a test or bench opens uses it. */
export const TEST_CA_FILE = loadConfig().OCTODB_MYSQL_CA_FILE;
export const TEST_TLS = await loadMysqlTls(loadConfig());
