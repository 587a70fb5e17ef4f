import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '#shared/config';

// Secrets Manager stands in: each ARN's value, and which ARNs were read.
const read: string[] = [];
vi.mock('../../lambdas/adapters/secrets.ts', () => ({
  readSecret: async (arn: string) => {
    read.push(arn);
    const username = arn === 'arn:admin' ? 'octodb_admin' : 'octodb_api';
    return JSON.stringify({ username, password: `${username}-pw`, host: 'mysql.octodb.internal', port: 3306 });
  },
}));
const { hostRunnerFor, resolveMysqlLogins } = await import('#adapters/wiring');
const { mysqlTls } = await import('#adapters/mysql-tls');
const tls = mysqlTls('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', 'a test CA');

// As the stack deploys a function: the runtime named, the host in the URL, the login in a secret.
const onAws = { OCTODB_RUNTIME: 'lambda', OCTODB_MYSQL_URL: 'mysql://mysql.octodb.internal:3306/octodb_meta' };

describe('which MySQL logins a function holds', () => {
  it('gives a function deployed with the API secret alone no admin login, and never reads the admin secret', async () => {
    read.length = 0;
    const config = loadConfig({ ...onAws, OCTODB_MYSQL_API_SECRET_ARN: 'arn:api' });
    const logins = await resolveMysqlLogins(config, tls);
    expect(logins.admin).toBeUndefined();
    expect(logins.meta).toEqual({ host: 'mysql.octodb.internal', port: 3306, user: 'octodb_api', password: 'octodb_api-pw', database: 'octodb_meta', ssl: tls });
    expect(read).toEqual(['arn:api']);
    // Host scripts are refused when used, not at the cold start of a function that never runs one.
    await expect(hostRunnerFor(config, logins.admin).run({} as never, 'true', 1)).rejects.toThrow(/no MySQL admin login/);
  });

  it('lets an admin function reach MetaDB with its admin login rather than hold a second secret', async () => {
    read.length = 0;
    const logins = await resolveMysqlLogins(loadConfig({ ...onAws, OCTODB_MYSQL_SECRET_ARN: 'arn:admin' }), tls);
    expect(logins.admin?.user).toBe('octodb_admin');
    expect(logins.meta).toBe(logins.admin);
    expect(read).toEqual(['arn:admin']);
  });

  it('uses both URLs locally: MetaDB as the API account, on the MetaDB the admin URL names', async () => {
    read.length = 0;
    const logins = await resolveMysqlLogins(loadConfig({ OCTODB_MYSQL_URL: 'mysql://octodb:octodb@127.0.0.1:3306/octodb_test_x' }), tls);
    expect(logins.admin).toMatchObject({ user: 'octodb', database: 'octodb_test_x' });
    expect(logins.meta).toMatchObject({ user: 'octodb_api', password: 'octodb_api', database: 'octodb_test_x' });
    expect(read).toEqual([]);
  });

  it('on Lambda takes no login from the URLs: a function deployed with neither secret has none', async () => {
    read.length = 0;
    await expect(resolveMysqlLogins(loadConfig(onAws), tls)).rejects.toThrow(/no MySQL login/);
    expect(read).toEqual([]);
  });

  it('locally reads a secret named in the settings, without taking the runtime for AWS', async () => {
    read.length = 0;
    const logins = await resolveMysqlLogins(loadConfig({ OCTODB_MYSQL_URL: 'mysql://octodb:octodb@127.0.0.1:3306/octodb_meta', OCTODB_MYSQL_API_SECRET_ARN: 'arn:api' }), tls);
    expect(logins.meta.user).toBe('octodb_api');
    expect(logins.admin).toMatchObject({ user: 'octodb', host: '127.0.0.1' });
    expect(read).toEqual(['arn:api']);
  });
});
