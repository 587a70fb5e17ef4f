import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, type CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/**
 * Backups that outlive the MySQL host (issue 16, "Lose the host, not the data"): its binlogs
 * shipped every minute and a base backup of every database each day, into an encrypted bucket of
 * this stack, by lib/host/octodb-backup.sh on systemd timers. bin/restore-host.sh rebuilds a host
 * from them (docs/deploy.md, "Losing the MySQL host"). The bucket's layout is the one per-tenant
 * restores read too.
 */

/** Where mysqld keeps binlogs and how long: past a shipping outage of this length, events are lost. */
export const BINLOG_SETTINGS = {
  log_bin: 'binlog',
  server_id: 1,
  // Row events carry their table's database: a restore replays each database's own events.
  binlog_format: 'ROW',
  binlog_expire_logs_seconds: 3 * 24 * 3600,
  sync_binlog: 1,
} as const;

/** Minutes between two binlog shipments: the recovery point objective is this plus one shipment. */
export const SHIP_EVERY_MINUTES = 1;
/** The daily base backups start at this UTC time (before AWS Backup's 03:00 volume snapshot). */
export const BASE_BACKUP_AT = '01:30';

/** Days an overwritten or expired object's previous version is kept. */
export const NONCURRENT_DAYS = 7;

/** Metrics the script counts on each success (lib/host/octodb-backup.sh `count`, namespace OctoDB); their absence alarms (lib/watch.ts). */
export const BACKUP_METRICS = { shipped: 'BinlogShipsSucceeded', based: 'BaseBackupsSucceeded' } as const;

/** The scripts the host runs, installed from this repository at synth: the backups, and the restore runbook's. */
const SCRIPTS = {
  '/usr/local/bin/octodb-backup': readFileSync(join(import.meta.dirname, 'host', 'octodb-backup.sh'), 'utf8'),
  '/usr/local/bin/octodb-restore-host': readFileSync(join(import.meta.dirname, '..', 'bin', 'restore-host.sh'), 'utf8'),
};

export interface HostBackupsProps {
  /** The host's role: the one principal allowed this bucket. */
  role: IRole;
  /** Days a base backup (so the oldest point a restore reaches) is kept; binlogs a day longer. */
  keepDays: number;
}

export class HostBackups extends Construct {
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: HostBackupsProps) {
    super(scope, id);
    const days = props.keepDays;
    // No fixed name (a retained bucket's name would block the next deploy); retained, since it is
    // what is left when the host, its volume and even the stack are gone.
    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'Overwritten', noncurrentVersionExpiration: Duration.days(NONCURRENT_DAYS) },
        { id: 'BaseBackups', prefix: 'base/', expiration: Duration.days(days) },
        { id: 'HostCatalogs', prefix: 'host/', expiration: Duration.days(days) },
        // A base is replayed from its own binlog on: binlogs outlive the oldest base.
        { id: 'Binlogs', prefix: 'binlog/', expiration: Duration.days(days + 1) },
        { id: 'Uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Only the host role writes here (the bucket policy requires TLS); CloudTrail data events, not server access logs, are the audit trail if one is wanted.',
    });
    // Write and read back; delete only base backups, which a tenant's erasure removes (per-database
    // restores' host scripts). A host that is taken over cannot erase binlogs or catalogs, and what it
    // deletes or overwrites keeps its old version NONCURRENT_DAYS.
    const objects = this.bucket.arnForObjects('*');
    props.role.addToPrincipalPolicy(new PolicyStatement({ sid: 'HostBackupObjects', actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'], resources: [objects] }));
    props.role.addToPrincipalPolicy(new PolicyStatement({ sid: 'HostBackupErasure', actions: ['s3:DeleteObject'], resources: [this.bucket.arnForObjects('base/*')] }));
    props.role.addToPrincipalPolicy(new PolicyStatement({ sid: 'HostBackupListing', actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }));
    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnBucket);
    Validations.of(props.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
      reason: 'The objects of the host backup bucket (every key the backup script writes), nothing else.',
    });
    Validations.of(props.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/base/*]`,
      reason: 'Deleting base backups only: a tenant erasure removes its databases\' base/<database>/ prefixes.',
    });
  }
}

/**
 * User data installing the backup script (and the restore's), its settings and its two timers: the shipment every
 * SHIP_EVERY_MINUTES (binlogs, host catalog, bases of new databases), the bases of all each day.
 */
export function hostBackupCommands(b: { bucketName: string; region: string; hostId: string }): string[] {
  const unit = (name: string, what: string, command: string, timer: string) => [
    `printf '[Unit]\\nDescription=OctoDB ${what}\\nAfter=mysqld.service\\n[Service]\\nType=oneshot\\nEnvironmentFile=/etc/octodb-backup.env\\nExecStart=/usr/local/bin/octodb-backup ${command}\\n' > /etc/systemd/system/${name}.service`,
    `printf '[Timer]\\n${timer}\\n[Install]\\nWantedBy=timers.target\\n' > /etc/systemd/system/${name}.timer`,
  ];
  return [
    '# Backups that outlive this host (lib/host-backup.ts): binlogs every minute, bases daily, into S3.',
    ...Object.entries(SCRIPTS).flatMap(([path, text]) => [`cat > ${path} <<'OCTODB_SCRIPT'`, text.trimEnd(), 'OCTODB_SCRIPT', `chmod 700 ${path}`]),
    `printf 'OCTODB_BACKUP_DEST=s3://%s\\nOCTODB_METRICS_REGION=%s\\nOCTODB_HOST_ID=%s\\nHOME=/root\\n' '${b.bucketName}' '${b.region}' '${b.hostId}' > /etc/octodb-backup.env`,
    ...unit('octodb-ship', 'binlog shipment', 'ship', `OnBootSec=1min\\nOnUnitActiveSec=${SHIP_EVERY_MINUTES}min\\nAccuracySec=1s`),
    ...unit('octodb-base', 'base backups', 'base', `OnCalendar=*-*-* ${BASE_BACKUP_AT}:00 UTC\\nPersistent=true`),
    'systemctl daemon-reload',
    'systemctl enable --now octodb-ship.timer octodb-base.timer',
  ];
}
