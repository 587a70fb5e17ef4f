import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKUP_METRICS } from '../../lib/host-backup.ts';
import { actionsOf, refsIn, resourcesOf, statementsByRole, synth, type Synthesized } from './support.ts';

// Issue 16, "Lose the host, not the data": what the template gives the host's backups (bucket,
// its access, the timers and scripts user data installs, the alarms when they stop).

let s: Synthesized;
let bucketId: string;
const ROOT = join(import.meta.dirname, '..', '..');

/** The host's user data as text, every CloudFormation reference written as TOKEN(<logical id>). */
const userData = (of: Synthesized) => {
  const instance = Object.values(of.resources).find((r) => r.Type === 'AWS::EC2::Instance')!;
  return (instance.Properties!.UserData['Fn::Base64']['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : `TOKEN(${refsIn(p).join(',')})`)).join('');
};
/** A file user data writes with `cat > path <<'OCTODB_SCRIPT'`. */
const installed = (text: string, path: string) => text.match(new RegExp(`^cat > ${path} <<'OCTODB_SCRIPT'\\n([\\s\\S]*?)\\nOCTODB_SCRIPT$`, 'm'))?.[1];
const lifecycle = (of: Synthesized) => {
  const bucket = of.resources[Object.keys(of.resources).find((k) => of.resources[k]!.Type === 'AWS::S3::Bucket')!]!;
  return Object.fromEntries((bucket.Properties!.LifecycleConfiguration.Rules as Record<string, any>[]).map((r) => [r.Id, r]));
};

beforeAll(() => {
  s = synth();
  bucketId = s.stack.getLogicalId(s.stack.host.backups.bucket.node.defaultChild as never);
});

describe('the host backup bucket', () => {
  it('is encrypted, private, TLS-only, versioned, retained and has no fixed name', () => {
    const bucket = s.resources[bucketId]!;
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.Properties!.BucketName).toBeUndefined();
    expect(bucket.Properties!.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]);
    expect(bucket.Properties!.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket.Properties!.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    const policy = Object.values(s.resources).find((r) => r.Type === 'AWS::S3::BucketPolicy' && refsIn(r.Properties!.Bucket).includes(bucketId))!;
    expect(policy.Properties!.PolicyDocument.Statement).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
  });

  it('expires base backups and host catalogs after pointInTimeDays, binlogs a day later, overwritten versions after a week', () => {
    for (const [context, days] of [[{}, 7], [{ pointInTimeDays: 30 }, 30]] as const) {
      const rules = lifecycle(synth(context));
      expect(rules.BaseBackups).toMatchObject({ Prefix: 'base/', ExpirationInDays: days, Status: 'Enabled' });
      expect(rules.HostCatalogs).toMatchObject({ Prefix: 'host/', ExpirationInDays: days });
      expect(rules.Binlogs).toMatchObject({ Prefix: 'binlog/', ExpirationInDays: days + 1 });
      expect(rules.Overwritten).toMatchObject({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } });
      expect(rules.Uploads).toMatchObject({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } });
    }
    expect(() => synth({ pointInTimeDays: 0 })).toThrow(/pointInTimeDays/);
  });

  it('is the point-in-time restore store of the provisioning function (LF6), kept as long as the bucket keeps base backups', () => {
    for (const [context, days] of [[{}, 7], [{ pointInTimeDays: 30 }, 30]] as const) {
      const of = synth(context);
      const id = of.stack.getLogicalId(of.stack.host.backups.bucket.node.defaultChild as never);
      const provision = Object.values(of.resources).find((r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties!.Description).startsWith('OctoDB LF6'))!;
      const env = provision.Properties!.Environment.Variables;
      expect(env.OCTODB_BACKUP_DIR).toEqual({ 'Fn::Join': ['', ['s3://', { Ref: id }]] });
      expect(env.OCTODB_BASE_BACKUP_DAYS).toBe(String(days));
    }
  });

  it('lets the host role write and read it, delete only base backups (erasures), and no one else touch it', () => {
    const hostRole = s.stack.getLogicalId(s.stack.host.instance.role.node.defaultChild as never);
    const roles = statementsByRole(s.resources);
    const s3 = roles[hostRole]!.filter((x) => actionsOf(x).some((a) => a.startsWith('s3:')));
    expect(s3.flatMap(actionsOf).sort()).toEqual(['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject']);
    for (const x of s3) for (const r of resourcesOf(x)) expect(refsIn(r)).toEqual([bucketId]);
    const deletes = s3.filter((x) => actionsOf(x).includes('s3:DeleteObject'));
    expect(deletes.map((x) => actionsOf(x))).toEqual([['s3:DeleteObject']]);
    expect(JSON.stringify(deletes[0]!.Resource)).toMatch(/"\/base\/\*"\]/);
    for (const [role, statements] of Object.entries(roles)) {
      if (role === hostRole) continue;
      expect(statements.filter((x) => refsIn(x.Resource).includes(bucketId)), role).toEqual([]);
    }
  });

  it('is named in the stack outputs', () => {
    expect(refsIn(s.template.toJSON().Outputs.BackupBucketName.Value)).toEqual([bucketId]);
  });
});

describe('the host’s backup timers', () => {
  it('installs the repository’s backup and restore scripts, pointed at the bucket, once MySQL runs', () => {
    const text = userData(s);
    expect(installed(text, '/usr/local/bin/octodb-backup')).toBe(readFileSync(join(ROOT, 'lib', 'host', 'octodb-backup.sh'), 'utf8').trimEnd());
    expect(installed(text, '/usr/local/bin/octodb-restore-host')).toBe(readFileSync(join(ROOT, 'bin', 'restore-host.sh'), 'utf8').trimEnd());
    expect(text).toContain(`'OCTODB_BACKUP_DEST=s3://%s\\nOCTODB_METRICS_REGION=%s\\nOCTODB_HOST_ID=%s\\nHOME=/root\\n' 'TOKEN(${bucketId})'`);
    expect(text).toMatch(/OnBootSec=1min\\nOnUnitActiveSec=1min\\nAccuracySec=1s/);
    expect(text).toContain('OnCalendar=*-*-* 01:30:00 UTC\\nPersistent=true');
    expect(text.indexOf('systemctl enable --now octodb-ship.timer octodb-base.timer')).toBeGreaterThan(text.indexOf('systemctl enable --now mysqld'));
  });

  it('has mysqld write row-based binlogs kept 3 days, synced at each commit', () => {
    const cnf = userData(s).match(/^cat > \/etc\/my\.cnf <<'CNF'\n([\s\S]*?)\nCNF$/m)![1]!.split('\n');
    expect(cnf).toEqual(expect.arrayContaining(['log_bin=binlog', 'server_id=1', 'binlog_format=ROW', 'binlog_expire_logs_seconds=259200', 'sync_binlog=1']));
  });

  it('ships binlogs to the bucket and counts the metric the alarm watches (the installed script, run with stand-ins for mysql and aws)', () => {
    const script = installed(userData(s), '/usr/local/bin/octodb-backup')!;
    const dir = mkdtempSync(join(tmpdir(), 'octodb-backup-infra-'));
    try {
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      const stub = (name: string, body: string) => {
        writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
        chmodSync(join(bin, name), 0o755);
      };
      writeFileSync(join(dir, 'binlog.000007'), 'closed');
      stub('mysql', `case "$*" in
  *log_bin_basename*) echo '${dir}/binlog' ;;
  *'SHOW BINARY LOGS'*) printf 'binlog.000007\\t6\\nbinlog.000008\\t4\\n' ;;
  *'SELECT schema_name'*) echo octodb_meta ;;
esac`);
      stub('mysqldump', "echo \"-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000008', SOURCE_LOG_POS=4;\"");
      stub('mysqlbinlog', 'true');
      stub('aws', `echo "$*" >> '${dir}/aws.log'; [ "$1" = s3 ] && cat > /dev/null; true`);
      const run = spawnSync('bash', ['-c', script, 'octodb-backup', 'ship'], {
        encoding: 'utf8',
        env: { PATH: `${bin}:${process.env.PATH}`, HOME: dir, OCTODB_BACKUP_DEST: 's3://backups', OCTODB_BACKUP_STATE: join(dir, 'state'), OCTODB_METRICS_REGION: 'eu-west-1', OCTODB_HOST_ID: 'mysql-1' },
      });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const calls = readFileSync(join(dir, 'aws.log'), 'utf8').trim().split('\n');
      // A first shipment looks at what the store holds (another server's binlogs are never overwritten).
      expect(calls[0]).toBe('s3 ls s3://backups/binlog/');
      expect(calls[1]).toBe('s3 cp --only-show-errors - s3://backups/binlog/binlog.000007');
      expect(calls[2]).toMatch(/^s3 cp --only-show-errors - s3:\/\/backups\/base\/octodb_meta\/\d{8}T\d{6}Z\.sql\.gz$/);
      expect(calls[3]).toMatch(/^s3 cp --only-show-errors - s3:\/\/backups\/host\/\d{8}T\d{6}Z\.sql\.gz$/);
      expect(calls[4]).toBe(`cloudwatch put-metric-data --region eu-west-1 --namespace OctoDB --metric-name ${BACKUP_METRICS.shipped} --dimensions HostId=mysql-1 --value 1 --unit Count`);
      expect(calls).toHaveLength(5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('alarms when backups stop', () => {
  const alarm = (metricName: string) => Object.values(s.resources).find((r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties!.MetricName === metricName)!.Properties!;

  it.each([
    [BACKUP_METRICS.shipped, 300],
    [BACKUP_METRICS.based, 86_400],
  ])('fires when %s is not counted once in %i s, a missing count included', (metricName, period) => {
    expect(alarm(metricName)).toMatchObject({
      Namespace: 'OctoDB',
      Dimensions: [{ Name: 'HostId', Value: 'mysql-1' }],
      Statistic: 'Sum',
      Period: period,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    expect(refsIn(alarm(metricName).AlarmActions)).toEqual([s.stack.getLogicalId(s.stack.node.findAll().find((c) => c.node.path.endsWith('Alarms/Topic/Resource')) as never)]);
  });
});
