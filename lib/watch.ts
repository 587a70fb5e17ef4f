import { Duration } from 'aws-cdk-lib';
import type { BackupVault } from 'aws-cdk-lib/aws-backup';
import { Alarm, ComparisonOperator, MathExpression, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { type Alarms, FIVE_MINUTES } from './alarms.ts';
import { BACKUP_METRICS } from './host-backup.ts';
import { HOST_METRICS, MYSQL_SERVER_SETTINGS } from './host-user-data.ts';
import type { OctoFunction } from './octo-function.ts';

/** Above this share of a file system in use, there is time left to grow the volume (docs/deploy.md, hostVolumeGb). */
export const DISK_USED_PERCENT_LIMIT = 80;
/** Above this share of max_connections, new logins are close to "Too many connections". */
export const CONNECTIONS_SHARE_LIMIT = 0.8;
/** A log record older than this in the queue: L1 is failing or throttled (it normally drains in seconds). */
export const LOG_QUEUE_AGE_LIMIT = Duration.minutes(5);
/** An async event of LF6 or M1 waiting longer than this: the worker is throttled or failing (events live an hour). */
export const ASYNC_EVENT_AGE_LIMIT = Duration.minutes(15);
/**
 * M1's throttles are how its reserved concurrency queues migrations (Lambda retries throttled async
 * events): its queue age is alarmed instead.
 */
export const THROTTLES_EXPECTED = ['migrate-run'];

export interface Watched {
  hostId: string;
  functions: Record<string, OctoFunction>;
  /** The asynchronously invoked workers, by name. */
  asyncWorkers: Record<string, OctoFunction>;
  logQueue: IQueue;
  backupVault: BackupVault;
}

/**
 * The alarms past errors and dead letters: the host's disk and MySQL connections (metrics the host
 * publishes, host-user-data.ts), Lambda throttles, the age of queued work, failed backups, and
 * binlog shipments or base backups that stopped (host-backup.ts).
 */
export function watch(alarms: Alarms, w: Watched): void {
  const host = (metricName: string, extra: Record<string, string> = {}) =>
    new Metric({ namespace: HOST_METRICS.namespace, metricName, dimensionsMap: { HostId: w.hostId, ...extra }, period: FIVE_MINUTES, statistic: 'Maximum' });
  for (const path of HOST_METRICS.paths) {
    alarms.whenAbove(`HostDiskSpace${path === '/' ? 'Root' : 'Data'}`, host(HOST_METRICS.diskUsedPercent, { Path: path }), DISK_USED_PERCENT_LIMIT,
      `More than ${DISK_USED_PERCENT_LIMIT}% of ${path} on the MySQL host is used`);
  }
  const connections = Math.floor(MYSQL_SERVER_SETTINGS.max_connections * CONNECTIONS_SHARE_LIMIT);
  alarms.whenAbove('MysqlConnections', host(HOST_METRICS.mysqlConnections), connections,
    `MySQL holds more than ${connections} of its ${MYSQL_SERVER_SETTINGS.max_connections} connections`);

  for (const [name, f] of Object.entries(w.functions)) {
    if (THROTTLES_EXPECTED.includes(name)) continue;
    alarms.whenAbove(`Throttles-${name}`, f.metricThrottles({ period: FIVE_MINUTES }), 0, `Lambda throttled function ${name} (account or function concurrency exhausted)`);
  }
  alarms.whenAbove('LogQueueAge', w.logQueue.metricApproximateAgeOfOldestMessage({ period: FIVE_MINUTES, statistic: 'Maximum' }), LOG_QUEUE_AGE_LIMIT.toSeconds(),
    `A log record has waited more than ${LOG_QUEUE_AGE_LIMIT.toMinutes()} minutes for L1`);
  for (const [name, f] of Object.entries(w.asyncWorkers)) {
    const age = new Metric({ namespace: 'AWS/Lambda', metricName: 'AsyncEventAge', dimensionsMap: { FunctionName: f.functionName }, period: FIVE_MINUTES, statistic: 'Maximum' });
    alarms.whenAbove(`AsyncEventAge-${name}`, age, ASYNC_EVENT_AGE_LIMIT.toMilliseconds(),
      `An asynchronous ${name} event has waited more than ${ASYNC_EVENT_AGE_LIMIT.toMinutes()} minutes to run`);
  }

  // AWS Backup's job metrics for the vault: a job that failed, was aborted or never started in its window.
  const jobs = (metricName: string) =>
    new Metric({ namespace: 'AWS/Backup', metricName, dimensionsMap: { BackupVaultName: w.backupVault.backupVaultName }, period: Duration.hours(1), statistic: 'Sum' });
  const failedBackups = new MathExpression({
    expression: 'FILL(failed, 0) + FILL(aborted, 0) + FILL(expired, 0)',
    usingMetrics: { failed: jobs('NumberOfBackupJobsFailed'), aborted: jobs('NumberOfBackupJobsAborted'), expired: jobs('NumberOfBackupJobsExpired') },
    period: Duration.hours(1),
    label: 'backup jobs failed, aborted or expired',
  });
  alarms.whenAbove('BackupJobsFailed', failedBackups, 0, 'A backup of the MySQL data volume failed, was aborted or expired before it ran');

  // The backup script counts each success: no count is what a stopped timer, a dead host or a failing script looks like.
  const stopped = (id: string, metricName: string, period: Duration, description: string) => {
    const alarm = new Alarm(alarms, id, {
      metric: host(metricName).with({ period, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.BREACHING,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new SnsAction(alarms.topic));
  };
  stopped('BinlogShippingStopped', BACKUP_METRICS.shipped, FIVE_MINUTES, 'No binlog shipment to the backup bucket succeeded in 5 minutes: the recovery point falls behind');
  stopped('BaseBackupsStopped', BACKUP_METRICS.based, Duration.days(1), 'No base backup of the databases reached the backup bucket in a day');
}
