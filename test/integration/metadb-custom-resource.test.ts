import { randomBytes } from 'node:crypto';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { TEST_TLS } from '../support/mysql-tls.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMysqlUrl } from '#shared/config';
import { MYSQL_URL } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';

/**
 * The MetaDB custom resource's onEvent handler (lambdas/metadb-migrate) against real MariaDB and
 * Skeema: the host runner comes from config, so `bash` here stands in for SSM on the EC2 host.
 * CDK's Provider framework answers CloudFormation with what the handler returns (SUCCESS with its
 * PhysicalResourceId) or throws (FAILED with the error's message as the reason).
 */
const metaDb = `octodb_cr_${randomBytes(6).toString('hex')}`;
const base = new URL(MYSQL_URL);
base.pathname = `/${metaDb}`;
// An API account of this test's own (on AWS: the API secret's login), dropped afterwards.
const apiUser = `octodb_api_${randomBytes(4).toString('hex')}`;
const apiUrl = (password: string) => `mysql://${apiUser}:${password}@${base.hostname}:${base.port || 3306}`;

let admin: Connection;
let handler: (event: CloudFormationCustomResourceEvent, context: Context) => Promise<{ PhysicalResourceId: string }>;

beforeAll(async () => {
  // The handler reads its configuration from the environment at each invocation, as on Lambda.
  process.env.OCTODB_MYSQL_URL = base.toString();
  process.env.OCTODB_HOST_RUNNER = 'bash';
  process.env.OCTODB_MYSQL_API_URL = apiUrl('first-password');
  delete process.env.OCTODB_MYSQL_SECRET_ARN;
  const login = parseMysqlUrl(MYSQL_URL);
  admin = await createConnection({ host: login.host, port: login.port, user: login.user, password: login.password, ssl: TEST_TLS });
  ({ handler } = await import('../../lambdas/metadb-migrate/handler.ts'));
});

afterAll(async () => {
  await admin?.query(`DROP DATABASE IF EXISTS \`${metaDb}\``);
  await admin?.query("DROP USER IF EXISTS ?@'%'", [apiUser]);
  await admin?.end();
});

const context = { getRemainingTimeInMillis: () => 840_000 } as Context;
/** The event as the Provider framework hands it on: its own response URL, not CloudFormation's. */
function event(requestType: 'Create' | 'Update' | 'Delete', props: Record<string, unknown>): CloudFormationCustomResourceEvent {
  return {
    RequestType: requestType,
    ResponseURL: '...',
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/OctoDb/abc',
    RequestId: randomBytes(8).toString('hex'),
    LogicalResourceId: 'MetaDbDeploymentMetaDb',
    ResourceType: 'Custom::OctoDbMetaDb',
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider-framework-onEvent',
    ...(requestType === 'Create' ? {} : { PhysicalResourceId: 'metadb-mysql-1' }),
    ResourceProperties: { ServiceToken: 'x', ...props },
  } as CloudFormationCustomResourceEvent;
}
const hostProps = { HostId: 'mysql-1', InstanceId: 'i-0123456789abcdef0', Endpoint: 'mysql.octodb.internal', Port: '3306' };

describe.skipIf(!serversUp)('MetaDB custom resource', () => {
  it('pushes schemas/meta, registers the host and answers SUCCESS', async () => {
    await expect(handler(event('Create', hostProps), context)).resolves.toEqual({ PhysicalResourceId: 'metadb-mysql-1' });
    const [tables] = await admin.query<RowDataPacket[]>('SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? ORDER BY 1', [metaDb]);
    expect(tables.map((r) => r.t)).toEqual(expect.arrayContaining(['hosts', 'issued_tokens', 'tenant_databases', 'tenants']));
    const [hosts] = await admin.query<RowDataPacket[]>(`SELECT host_id, instance_id, endpoint, port, active FROM \`${metaDb}\`.hosts`);
    expect(hosts).toEqual([{ host_id: 'mysql-1', instance_id: 'i-0123456789abcdef0', endpoint: 'mysql.octodb.internal', port: 3306, active: 1 }]);
  });

  it('creates the API account with DML on MetaDB only, over TLS only', async () => {
    const [grants] = await admin.query<RowDataPacket[]>("SHOW GRANTS FOR ?@'%'", [apiUser]);
    expect(grants.map((r) => String(Object.values(r)[0]).replace(/ IDENTIFIED BY PASSWORD '[^']*'/, ''))).toEqual([
      `GRANT USAGE ON *.* TO \`${apiUser}\`@\`%\` REQUIRE SSL`, // refused without TLS, whatever the server setting
      `GRANT SELECT, INSERT, UPDATE, DELETE ON \`${metaDb}\`.* TO \`${apiUser}\`@\`%\``,
    ]);
    const api = await createConnection({ host: base.hostname, port: Number(base.port || 3306), user: apiUser, password: 'first-password', ssl: TEST_TLS });
    try {
      const [hosts] = await api.query<RowDataPacket[]>(`SELECT host_id FROM \`${metaDb}\`.hosts`);
      expect(hosts).toHaveLength(1);
    } finally {
      await api.end();
    }
  });

  it('keeps the API password in step with its secret on update', async () => {
    process.env.OCTODB_MYSQL_API_URL = apiUrl('second-password');
    await expect(handler(event('Update', hostProps), context)).resolves.toEqual({ PhysicalResourceId: 'metadb-mysql-1' });
    const api = await createConnection({ host: base.hostname, port: Number(base.port || 3306), user: apiUser, password: 'second-password', ssl: TEST_TLS });
    await api.end();
  });

  it('is idempotent on update: the push finds nothing to change and the host row is updated in place', async () => {
    await expect(handler(event('Update', { ...hostProps, InstanceId: 'i-0fedcba9876543210' }), context)).resolves.toEqual({ PhysicalResourceId: 'metadb-mysql-1' });
    const [hosts] = await admin.query<RowDataPacket[]>(`SELECT instance_id FROM \`${metaDb}\`.hosts`);
    expect(hosts.map((r) => r.instance_id)).toEqual(['i-0fedcba9876543210']);
  });

  it('leaves MetaDB in place on delete and still answers SUCCESS', async () => {
    await expect(handler(event('Delete', hostProps), context)).resolves.toEqual({ PhysicalResourceId: 'metadb-mysql-1' });
    const [rows] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = ?', [metaDb]);
    expect(Number(rows[0]!.n)).toBe(1);
  });

  it.each([
    ['a missing InstanceId', { ...hostProps, InstanceId: undefined }, /InstanceId/],
    ['a hostile HostId', { ...hostProps, HostId: "x'; DROP TABLE hosts; --" }, /HostId/],
    ['an endpoint with shell characters', { ...hostProps, Endpoint: 'db$(reboot)' }, /Endpoint/],
    ['a port out of range', { ...hostProps, Port: '70000' }, /Port/],
  ])('answers FAILED at once for %s, touching nothing', async (_what, props, reason) => {
    const started = Date.now();
    await expect(handler(event('Create', props), context)).rejects.toThrow(reason);
    expect(Date.now() - started).toBeLessThan(5000); // refused before any push, not after the push's tries
    const [hosts] = await admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${metaDb}\`.hosts`);
    expect(Number(hosts[0]!.n)).toBe(1);
  });
});
