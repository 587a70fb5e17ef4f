import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { actionsOf, functionId, refsIn, statementsByRole, synth, type Synthesized } from './support.ts';

/**
 * What lets a first deploy succeed, and a failed one roll back to nothing: read from the
 * synthesized template, since no AWS account is reachable here.
 */
let s: Synthesized;
const ofType = (type: string) => Object.entries(s.resources).filter(([, r]) => r.Type === type);
const one = (type: string) => {
  const found = ofType(type);
  expect(found, type).toHaveLength(1);
  return found[0]!;
};
const dependsOn = (r: { DependsOn?: string[] | string }) => [r.DependsOn ?? []].flat();
/** The SDK call a CDK AwsCustomResource makes on create, update or delete (a JSON string with tokens). */
const sdkCall = (value: unknown) => JSON.parse(((value as any)['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'TOKEN')).join(''));

beforeAll(() => {
  s = synth();
});

describe('host termination protection', () => {
  it('launches the host without it, so a failed first deploy can delete the instance', () => {
    const [, instance] = one('AWS::EC2::Instance');
    expect(instance.Properties!.DisableApiTermination).toBe(false);
    for (const [, r] of Object.entries(s.resources)) expect(r.Properties?.DisableApiTermination, r.Type).not.toBe(true);
  });

  it('turns it on once MetaDB is deployed on the host, and off before CloudFormation deletes the host', () => {
    const [instanceId] = one('AWS::EC2::Instance');
    const [crId, cr] = one('Custom::OctoDbHostTerminationProtection');
    const [metadbId] = one('Custom::OctoDbMetaDb');
    expect(dependsOn(cr)).toContain(metadbId);
    // It refers to the instance, so CloudFormation deletes it before the instance: in a rollback,
    // on stack deletion, and in the clean-up after a replacement (physical id = instance id).
    for (const [phase, on] of [['Create', true], ['Update', true], ['Delete', false]] as const) {
      expect(refsIn(cr.Properties![phase])).toEqual([instanceId]);
      expect(sdkCall(cr.Properties![phase]), phase).toMatchObject({
        service: 'EC2',
        action: 'ModifyInstanceAttribute',
        parameters: { InstanceId: 'TOKEN', DisableApiTermination: { Value: on } },
        physicalResourceId: { id: 'TOKEN' },
      });
    }
    expect(sdkCall(cr.Properties!.Delete).ignoreErrorCodesMatching).toBe('InvalidInstanceID\\.NotFound');
    // Its function may make this one call on this one instance, and write its logs.
    const fnId = cr.Properties!.ServiceToken['Fn::GetAtt'][0] as string;
    const roleId = refsIn(s.resources[fnId]!.Properties!.Role)[0]!;
    const statements = statementsByRole(s.resources)[roleId]!;
    const granted = statements.map((x) => `${actionsOf(x).join(',')} → ${refsIn(x.Resource).filter((r) => !r.startsWith('AWS::')).join(',')}`).sort();
    expect(granted).toEqual([`ec2:ModifyInstanceAttribute → ${instanceId}`, expect.stringMatching(/^logs:CreateLogStream,logs:PutLogEvents → HostTerminationProtectionLogs/)]);
    expect(s.resources[roleId]!.Properties!.ManagedPolicyArns).toBeUndefined();
    expect(crId).toBeTruthy();
  });

  it('has none of it with hostTerminationProtection=false', () => {
    const off = synth({ hostTerminationProtection: false });
    expect(Object.values(off.resources).filter((r) => r.Type === 'Custom::OctoDbHostTerminationProtection')).toEqual([]);
  });
});

describe('retained resources', () => {
  /** Each retained type and its physical-name property (null: the type has none). A new retained type must be added here. */
  const NAME_PROPERTY: Record<string, string | null> = {
    'AWS::EC2::Volume': null,
    'AWS::Backup::BackupVault': 'BackupVaultName',
    'AWS::DynamoDB::Table': 'TableName',
    'AWS::KMS::Key': null,
    'AWS::IAM::Role': 'RoleName',
    'AWS::ApiGateway::Account': null,
    'AWS::S3::Bucket': 'BucketName',
  };

  it('has no fixed name on any resource CloudFormation leaves behind: a redeploy never meets a name in use', () => {
    const retained = Object.entries(s.resources).filter(([, r]) => r.DeletionPolicy === 'Retain' || r.UpdateReplacePolicy === 'Retain');
    expect(retained.length).toBeGreaterThan(0);
    for (const [rid, r] of retained) {
      expect(Object.keys(NAME_PROPERTY), `${rid} (${r.Type})`).toContain(r.Type);
      const nameProperty = NAME_PROPERTY[r.Type];
      const name = nameProperty ? r.Properties?.[nameProperty] : undefined;
      // Absent (CloudFormation generates one) or made from the stack id, which is new for every stack created.
      if (name !== undefined) expect(refsIn(name), rid).toContain('AWS::StackId');
    }
  });

  it('names the backup vault within its 50 characters for the longest stack name', () => {
    const long = synth({ stackName: `S${'x'.repeat(51)}` });
    const [, vault] = Object.entries(long.resources).find(([, r]) => r.Type === 'AWS::Backup::BackupVault')!;
    const parts = vault.Properties!.BackupVaultName['Fn::Join'][1] as unknown[];
    const literal = parts.filter((p): p is string => typeof p === 'string').join('');
    expect(literal).toMatch(/^[A-Za-z0-9-]+$/);
    expect(literal.length + 12).toBeLessThanOrEqual(50); // + the stack UUID's last group: 12 hex digits
  });

  it('lists every retained resource in the teardown docs', () => {
    const docs = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'deploy.md'), 'utf8');
    const teardown = docs.slice(docs.indexOf('## Tearing down'));
    const phrases: Record<string, string> = {
      'AWS::EC2::Volume': 'MySQL data volume',
      'AWS::Backup::BackupVault': 'AWS Backup vault',
      'AWS::DynamoDB::Table': 'DynamoDB log table',
      'AWS::KMS::Key': 'KMS key',
      'AWS::IAM::Role': 'API Gateway CloudWatch role',
      'AWS::ApiGateway::Account': 'API Gateway CloudWatch role and setting',
      'AWS::S3::Bucket': 'host backup bucket',
    };
    const types = new Set(Object.values(s.resources).filter((r) => r.DeletionPolicy === 'Retain').map((r) => r.Type));
    for (const type of types) expect(teardown, type).toContain(phrases[type]);
  });
});

describe('network before the host', () => {
  it('creates the host only after its subnet’s route-table association, NAT route and the S3 endpoint', () => {
    const [, instance] = one('AWS::EC2::Instance');
    const subnet = instance.Properties!.NetworkInterfaces[0].SubnetId.Ref as string;
    const [assocId, assoc] = ofType('AWS::EC2::SubnetRouteTableAssociation').find(([, a]) => a.Properties!.SubnetId.Ref === subnet)!;
    const routeTable = assoc.Properties!.RouteTableId.Ref as string;
    const [natRouteId] = ofType('AWS::EC2::Route').find(
      ([, r]) => r.Properties!.RouteTableId.Ref === routeTable && r.Properties!.DestinationCidrBlock === '0.0.0.0/0' && r.Properties!.NatGatewayId,
    )!;
    const [s3Id, s3] = ofType('AWS::EC2::VPCEndpoint').find(([, e]) => JSON.stringify(e.Properties!.ServiceName).includes('.s3'))!;
    expect(s3.Properties!.VpcEndpointType).toBe('Gateway');
    expect(refsIn(s3.Properties!.RouteTableIds)).toContain(routeTable);
    expect(dependsOn(instance)).toEqual(expect.arrayContaining([assocId, natRouteId, s3Id]));
  });
});

describe('custom resources', () => {
  it('each answer CloudFormation within a bound: a service timeout past its function’s own, far under the default hour', () => {
    const custom = Object.entries(s.resources).filter(([, r]) => r.Type.startsWith('Custom::') || r.Type === 'AWS::CloudFormation::CustomResource');
    expect(custom.map(([, r]) => r.Type).sort()).toEqual(['Custom::OctoDbHostTerminationProtection', 'Custom::OctoDbMetaDb', 'Custom::VpcRestrictDefaultSG']);
    for (const [rid, r] of custom) {
      const timeout = Number(r.Properties!.ServiceTimeout);
      const fn = s.resources[r.Properties!.ServiceToken['Fn::GetAtt'][0] as string]!;
      expect(fn.Type).toBe('AWS::Lambda::Function');
      // Past the function's timeout: its FAILED answer (or the framework's) arrives first when it runs.
      expect(timeout, rid).toBeGreaterThan(fn.Properties!.Timeout as number);
      expect(timeout, rid).toBeLessThanOrEqual(20 * 60);
    }
  });
});

describe('MySQL settings', () => {
  /** The first-boot script as bash runs it (tokens as placeholders). */
  const script = () => {
    const [, instance] = one('AWS::EC2::Instance');
    return (instance.Properties!.UserData['Fn::Base64']['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
  };
  /** Every file a `cat > FILE <<'TAG'` heredoc of the script writes, with its content. */
  const heredocs = (text: string) =>
    [...text.matchAll(/^cat > (\S+) <<'(\w+)'\n([\s\S]*?)^\2$/gm)].map((m) => ({ path: m[1]!, content: m[3]! }));

  it('are written to /etc/my.cnf, the file the community RPM’s mysqld reads (its own has no !includedir), before mysqld starts', () => {
    const text = script();
    const serverFiles = heredocs(text).filter((f) => /^\[mysqld\]/m.test(f.content));
    expect(serverFiles.map((f) => f.path)).toEqual(['/etc/my.cnf']);
    expect(text).not.toMatch(/\/etc\/my\.cnf\.d\/\S+\.cnf/); // a file there is never read
    expect(text.indexOf("cat > /etc/my.cnf <<'CNF'")).toBeGreaterThan(text.indexOf('dnf install -y mysql-community-server'));
    expect(text.indexOf("cat > /etc/my.cnf <<'CNF'")).toBeLessThan(text.indexOf('systemctl enable --now mysqld'));
  });

  it('are what mysqld reads from that file (my_print_defaults, the server’s own option reader)', () => {
    const cnf = heredocs(script()).find((f) => f.path === '/etc/my.cnf')!;
    const dir = mkdtempSync(join(tmpdir(), 'octodb-mycnf-'));
    try {
      writeFileSync(join(dir, 'my.cnf'), cnf.content);
      const read = spawnSync('my_print_defaults', [`--defaults-file=${join(dir, 'my.cnf')}`, 'mysqld'], { encoding: 'utf8' });
      expect(read.status, read.stderr).toBe(0);
      expect(read.stdout.trim().split('\n')).toEqual(
        expect.arrayContaining([
          '--innodb_dedicated_server=ON',
          '--skip_name_resolve=ON',
          '--max_connections=400',
          '--character_set_server=utf8mb4',
          '--collation_server=utf8mb4_unicode_ci',
          // The RPM's own settings stay: the bootstrap reads the temporary root password from log-error.
          '--datadir=/var/lib/mysql',
          '--log-error=/var/log/mysqld.log',
        ]),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('said at synth, before the deploy starts', () => {
  const warnings = (x: Synthesized, pattern: string) => Annotations.fromStack(x.stack).findWarning('*', Match.stringLikeRegexp(pattern));

  it('that M1’s reserved concurrency needs an account limit of 100 + it, and the way out', () => {
    expect(s.resources[functionId(s, 'migrate-run')]!.Properties!.ReservedConcurrentExecutions).toBe(2);
    const [warning] = warnings(s, 'migrate-run reserves 2 concurrent executions');
    expect(warning!.id).toBe(`/${s.stack.stackName}/MigrateRun`);
    expect(String(warning!.entry.data)).toMatch(/at least 102 .*get-account-settings.*L-B99A9384.*-c migrateRunConcurrency=0/);
  });

  it('nothing about concurrency with migrateRunConcurrency=0, which reserves none', () => {
    const none = synth({ migrateRunConcurrency: 0 });
    expect(none.resources[functionId(none, 'migrate-run')]!.Properties!.ReservedConcurrentExecutions).toBeUndefined();
    expect(warnings(none, 'reserves')).toEqual([]);
  });

  it('that alarms reach nobody without alarmEmail, and nothing once it is set', () => {
    expect(warnings(s, 'No alarmEmail set')).toHaveLength(1);
    expect(Object.values(s.resources).filter((r) => r.Type === 'AWS::SNS::Subscription')).toEqual([]);
    const mailed = synth({ alarmEmail: 'ops@example.com' });
    expect(warnings(mailed, 'No alarmEmail set')).toEqual([]);
    const subscriptions = Object.values(mailed.resources).filter((r) => r.Type === 'AWS::SNS::Subscription');
    expect(subscriptions.map((r) => r.Properties)).toEqual([
      expect.objectContaining({ Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: mailed.stack.getLogicalId(mailed.stack.alarms.topic.node.defaultChild as never) } }),
    ]);
  });
});
