import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { actionsOf, functionId, refsIn, statementsByRole, synth, type Synthesized } from './support.ts';

const FUNCTIONS = ['authorizer', 'signup', 'verify', 'token', 'provision', 'query', 'migrate-submit', 'migrate-run', 'dashboard', 'log-ingest', 'metadb-migrate', 'admin'];

let s: Synthesized;
let alarms: Record<string, any>[];
const id = (construct: { node: { defaultChild?: unknown } }) => s.stack.getLogicalId(construct.node.defaultChild as never);
const byMetric = (namespace: string, metricName: string) => alarms.filter((a) => a.Namespace === namespace && a.MetricName === metricName);
const dims = (a: Record<string, any>): Record<string, any> => Object.fromEntries((a.Dimensions as { Name: string; Value: unknown }[]).map((d) => [d.Name, d.Value]));

beforeAll(() => {
  s = synth();
  alarms = Object.values(s.resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((r) => r.Properties!);
});

/** The host's metrics publisher (user data) run with stand-ins for df, mysql and aws: the data it sends CloudWatch. */
function published(): { namespace: string; data: { MetricName: string; Dimensions: { Name: string; Value: string }[]; Value: number }[] } {
  const instance = Object.values(s.resources).find((r) => r.Type === 'AWS::EC2::Instance')!;
  const script = (instance.Properties!.UserData['Fn::Base64']['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
  const publisher = script.match(/^cat > \/usr\/local\/bin\/octodb-metrics <<'SH'\n([\s\S]*?)^SH$/m)![1]!;
  const bin = mkdtempSync(join(tmpdir(), 'octodb-metrics-'));
  try {
    const stub = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    stub('df', 'echo "Use%"; [ "$2" = / ] && echo " 31%" || echo " 85%"');
    stub('mysql', 'printf "Threads_connected\\t17\\n"');
    stub('aws', 'printf "%s\\n" "$@"');
    const run = spawnSync('bash', ['-c', publisher], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(run.status, run.stderr).toBe(0);
    const args = run.stdout.trim().split('\n');
    expect(args.slice(0, 2)).toEqual(['cloudwatch', 'put-metric-data']);
    return { namespace: args[args.indexOf('--namespace') + 1]!, data: JSON.parse(args[args.indexOf('--metric-data') + 1]!) };
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
}

describe('alarms that were missing', () => {
  it('watches the disk of the host’s data and root file systems at 80 %, from the metrics the host publishes', () => {
    const disk = byMetric('OctoDB', 'DiskUsedPercent');
    expect(disk.map(dims).sort((a, b) => a.Path.localeCompare(b.Path))).toEqual([{ HostId: 'mysql-1', Path: '/' }, { HostId: 'mysql-1', Path: '/var/lib/mysql' }]);
    for (const a of disk) expect(a).toMatchObject({ Threshold: 80, ComparisonOperator: 'GreaterThanThreshold', Statistic: 'Maximum' });
    // What the host sends is what the alarms watch: same namespace, names and dimensions.
    const sent = published();
    expect(sent.namespace).toBe('OctoDB');
    const disks = sent.data.filter((d) => d.MetricName === 'DiskUsedPercent');
    expect(disks.map((d) => [Object.fromEntries(d.Dimensions.map((x) => [x.Name, x.Value])), d.Value])).toEqual([
      [{ HostId: 'mysql-1', Path: '/var/lib/mysql' }, 85],
      [{ HostId: 'mysql-1', Path: '/' }, 31],
    ]);
  });

  it('watches MySQL connections at 80 % of the max_connections the host’s my.cnf sets', () => {
    const [a, ...more] = byMetric('OctoDB', 'MysqlThreadsConnected');
    expect(more).toEqual([]);
    expect(dims(a!)).toEqual({ HostId: 'mysql-1' });
    expect(a).toMatchObject({ Threshold: 320, Statistic: 'Maximum' });
    const sent = published().data.filter((d) => d.MetricName === 'MysqlThreadsConnected');
    expect(sent).toEqual([{ MetricName: 'MysqlThreadsConnected', Dimensions: [{ Name: 'HostId', Value: 'mysql-1' }], Value: 17, Unit: 'Count' }]);
    expect(JSON.stringify(Object.values(s.resources).find((r) => r.Type === 'AWS::EC2::Instance')!.Properties!.UserData)).toContain('max_connections=400');
  });

  it('lets the host publish metrics into the OctoDB namespace only', () => {
    const hostRole = s.stack.getLogicalId(s.stack.host.instance.role.node.defaultChild as never);
    const put = statementsByRole(s.resources)[hostRole]!.filter((x) => actionsOf(x).includes('cloudwatch:PutMetricData'));
    expect(put).toHaveLength(1);
    expect(actionsOf(put[0]!)).toEqual(['cloudwatch:PutMetricData']);
    expect((put[0] as any).Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': 'OctoDB' } });
  });

  it('watches throttles of every function but M1, whose throttles queue migrations by design', () => {
    const throttled = byMetric('AWS/Lambda', 'Throttles').flatMap((a) => refsIn(a.Dimensions));
    expect(throttled.sort()).toEqual(FUNCTIONS.filter((n) => n !== 'migrate-run').map((n) => functionId(s, n)).sort());
  });

  it('watches the age of queued work: log records waiting for L1, async LF6 and M1 events waiting to run', () => {
    const [logAge] = byMetric('AWS/SQS', 'ApproximateAgeOfOldestMessage');
    expect(refsIn(logAge!.Dimensions)).toEqual([id(s.stack.logging.queue)]);
    expect(logAge).toMatchObject({ Threshold: 300, Statistic: 'Maximum' });
    const asyncAge = byMetric('AWS/Lambda', 'AsyncEventAge');
    expect(asyncAge.flatMap((a) => refsIn(a.Dimensions)).sort()).toEqual([functionId(s, 'provision'), functionId(s, 'migrate-run')].sort());
    for (const a of asyncAge) expect(a).toMatchObject({ Threshold: 15 * 60_000, Statistic: 'Maximum' });
  });

  it('watches failed, aborted and expired backup jobs of the data volume’s vault', () => {
    const backup = alarms.filter((a) => JSON.stringify(a.Metrics ?? []).includes('AWS/Backup'));
    expect(backup).toHaveLength(1);
    const metrics = backup[0]!.Metrics as any[];
    const names = metrics.filter((m) => m.MetricStat).map((m) => m.MetricStat.Metric.MetricName).sort();
    expect(names).toEqual(['NumberOfBackupJobsAborted', 'NumberOfBackupJobsExpired', 'NumberOfBackupJobsFailed']);
    for (const m of metrics.filter((x) => x.MetricStat)) {
      expect(m.MetricStat.Metric.Dimensions).toEqual([{ Name: 'BackupVaultName', Value: { 'Fn::GetAtt': [id(s.stack.host.vault), 'BackupVaultName'] } }]);
    }
    expect(backup[0]).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
  });

  it('notifies the one alarm topic from every alarm', () => {
    const topic = id(s.stack.alarms.topic);
    expect(alarms.length).toBeGreaterThan(30);
    for (const a of alarms) expect(a.AlarmActions).toEqual([{ Ref: topic }]);
  });
});
