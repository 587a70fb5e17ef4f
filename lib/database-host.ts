import { Duration, Fn, RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import { BackupPlan, BackupPlanRule, BackupResource, BackupVault } from 'aws-cdk-lib/aws-backup';
import {
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  HttpTokens,
  Instance,
  InstanceArchitecture,
  InstanceType,
  type IMachineImage,
  type ISecurityGroup,
  type IVpc,
  MachineImage,
  OperatingSystemType,
  SubnetType,
  UserData,
  Volume,
} from 'aws-cdk-lib/aws-ec2';
import { Schedule } from 'aws-cdk-lib/aws-events';
import { ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { ARecord, PrivateHostedZone, RecordTarget } from 'aws-cdk-lib/aws-route53';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { ParameterTier, StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct, type IDependable } from 'constructs';
import { HostBackups, hostBackupCommands } from './host-backup.ts';
import { HOST_METRICS, hostBootstrapCommands } from './host-user-data.ts';

/** The private DNS zone and name the functions reach MySQL at (a replacement host takes the name over). */
export const PRIVATE_ZONE = 'octodb.internal';
export const MYSQL_HOSTNAME = `mysql.${PRIVATE_ZONE}`;
/** The root volume holds only what user data installs again on a new host: kept small. */
export const ROOT_VOLUME_GB = 16;
/** Where the host attaches its data volume (on Nitro instances it shows up as an NVMe device). */
export const DATA_DEVICE = '/dev/sdf';

export interface DatabaseHostProps {
  vpc: IVpc;
  securityGroup: ISecurityGroup;
  adminSecret: ISecret;
  /** The host's id in MetaDB, the dimension of the metrics it publishes. */
  hostId: string;
  /**
   * What the first boot's downloads go through besides its subnet's NAT route: the S3 gateway
   * endpoint (Amazon Linux's package mirrors). The instance is created only after it exists.
   */
  packageEndpoint: IDependable;
  instanceType: string;
  /** Size of the MySQL data volume. */
  volumeGb: number;
  backupRetentionDays: number;
  /** Days the base backups in the backup bucket are kept: how far back a restore to a point in time reaches. */
  pointInTimeDays: number;
  mysqlSeries: '8.0' | '8.4';
  skeemaVersion: string;
  skeemaSha256: { arm64: string; amd64: string };
  /** A pinned AMI; without it the newest Amazon Linux 2023 AMI at the instance's launch. */
  amiId?: string;
}

/**
 * The MySQL EC2 host (Amazon Linux 2023) in a private subnet: managed by SSM only (no key pair,
 * no inbound rule but MySQL from the functions), IMDSv2. MySQL's data lives on its own encrypted
 * gp3 volume, retained when the instance or the stack goes and backed up daily by AWS Backup;
 * the root volume is disposable (user data rebuilds it). CloudFormation waits for the bootstrap
 * to signal success.
 *
 * The image is chosen when the instance launches (`resolve:ssm:` in ImageId, a literal string to
 * CloudFormation), not on every deploy: a newly published AMI never replaces a running host.
 */
export class DatabaseHost extends Construct {
  readonly instance: Instance;
  readonly dataVolume: Volume;
  readonly vault: BackupVault;
  /** Binlogs and base backups in S3: what a new host is restored from (lib/host-backup.ts). */
  readonly backups: HostBackups;
  readonly record: ARecord;
  readonly hostname = MYSQL_HOSTNAME;
  /**
   * The CA certificate the host made (lib/host-tls.ts), published by the host at boot: every
   * function with a MySQL login verifies the server against it. The template's value is a
   * placeholder CloudFormation never writes again unless this resource's properties change (so
   * they must not: a change would overwrite the CA until the host's next boot).
   */
  readonly caParameter: StringParameter;

  constructor(scope: Construct, id: string, props: DatabaseHostProps) {
    super(scope, id);
    const instanceType = new InstanceType(props.instanceType);
    const arm = instanceType.architecture === InstanceArchitecture.ARM_64;
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description: 'OctoDB MySQL host: SSM agent, reads the MySQL admin secret, attaches its data volume',
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    props.adminSecret.grantRead(role);
    // Its disk and MySQL metrics (host-user-data.ts), into OctoDB's namespace only.
    role.addToPolicy(
      new PolicyStatement({
        sid: 'PublishHostMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': HOST_METRICS.namespace } },
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'cloudwatch:PutMetricData has no resource-level permissions; the condition limits it to the OctoDB namespace.',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      reason: 'The SSM agent policy AWS maintains for managed instances; SSM is the only way onto this host.',
    });

    // Host and data volume share one subnet's availability zone: a volume attaches only there.
    const subnet = props.vpc.selectSubnets({ subnetType: SubnetType.PRIVATE_WITH_EGRESS }).subnets[0]!;
    this.dataVolume = new Volume(this, 'DataVolume', {
      availabilityZone: subnet.availabilityZone,
      size: Size.gibibytes(props.volumeGb),
      volumeType: EbsDeviceVolumeType.GP3,
      encrypted: true,
      // Never deleted by CloudFormation: not with the instance, not on replacement, not with the stack.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.caParameter = new StringParameter(this, 'MysqlCa', {
      description: 'OctoDB: CA certificate of the MySQL host (PEM), written by the host at boot',
      stringValue: CA_PLACEHOLDER,
      tier: ParameterTier.STANDARD,
    });
    this.caParameter.grantWrite(role);

    const userData = UserData.forLinux();
    this.instance = new Instance(this, 'Instance', {
      vpc: props.vpc,
      vpcSubnets: { subnets: [subnet] },
      instanceType,
      machineImage: props.amiId ? pinnedImage(props.amiId) : latestAl2023AtLaunch(arm),
      securityGroup: props.securityGroup,
      role,
      userData,
      httpTokens: HttpTokens.REQUIRED, // IMDSv2 on the instance itself (requireImdsv2 adds a fixed-name launch template)
      httpPutResponseHopLimit: 1,
      detailedMonitoring: true,
      // Off at launch: a failed first deploy must be able to delete the instance. HostTerminationProtection
      // (lib/termination-protection.ts) turns it on once the stack's host is deployed.
      disableApiTermination: false,
      associatePublicIpAddress: false,
      ebsOptimized: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: BlockDeviceVolume.ebs(ROOT_VOLUME_GB, { volumeType: EbsDeviceVolumeType.GP3, encrypted: true, deleteOnTermination: true }),
        },
      ],
      resourceSignalTimeout: Duration.minutes(30),
    });
    // The host attaches the volume to itself at first boot (AttachVolume only between resources
    // carrying the same grant tag): a CloudFormation VolumeAttachment would wait for the instance,
    // which waits for its bootstrap, which needs the volume.
    this.dataVolume.grantAttachVolumeByResourceTag(role, [this.instance]);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
      reason:
        'ec2:AttachVolume of the one data volume, onto an instance that carries the volume grant tag (condition on both): the instance cannot name its own ARN without a circular reference.',
    });
    userData.addCommands(
      ...hostBootstrapCommands({
        region: Stack.of(this).region,
        hostId: props.hostId,
        mysqlHostname: MYSQL_HOSTNAME,
        caParameterName: this.caParameter.parameterName,
        adminSecretArn: props.adminSecret.secretArn,
        dataVolumeId: this.dataVolume.volumeId,
        dataDevice: DATA_DEVICE,
        mysqlSeries: props.mysqlSeries,
        skeemaVersion: props.skeemaVersion,
        skeemaArch: arm ? 'arm64' : 'amd64',
        skeemaSha256: arm ? props.skeemaSha256.arm64 : props.skeemaSha256.amd64,
      }),
    );
    this.backups = new HostBackups(this, 'Backups', { role, keepDays: props.pointInTimeDays });
    userData.addCommands(...hostBackupCommands({ bucketName: this.backups.bucket.bucketName, region: Stack.of(this).region, hostId: props.hostId }));
    userData.addSignalOnExitCommand(this.instance);
    // The first boot runs dnf and curl at once: its subnet's route-table association and NAT route
    // (the subnet's internetConnectivityEstablished) and the S3 endpoint must exist before it starts,
    // or the bootstrap fails and CloudFormation waits the whole signal timeout for nothing.
    this.instance.node.addDependency(subnet.internetConnectivityEstablished, props.packageEndpoint);
    if (!props.amiId) {
      Validations.of(this.instance).acknowledge({
        id: 'CloudFormation-Validate::E1152',
        reason:
          'ImageId `resolve:ssm:<public AL2023 parameter>` is what EC2 resolves at launch (RunInstances accepts it for parameters of data type aws:ec2:image); the bundled rule predates it (cfn-lint accepts it since aws-cloudformation/cfn-lint#3340).',
      });
    }
    Validations.of(this.instance).acknowledge({
      id: 'AwsSolutions-EC29',
      reason: 'Termination protection is turned on after the host is deployed (lib/termination-protection.ts), so a failed first deploy can still roll back; the data volume is retained and backed up daily.',
    });

    const zone = new PrivateHostedZone(this, 'Zone', { zoneName: PRIVATE_ZONE, vpc: props.vpc });
    this.record = new ARecord(this, 'MysqlRecord', {
      zone,
      recordName: 'mysql',
      target: RecordTarget.fromIpAddresses(this.instance.instancePrivateIp),
      ttl: Duration.minutes(1),
    });

    // The data volume is what is worth keeping; the root volume is rebuilt by user data.
    // The vault is retained (CloudFormation cannot delete one holding recovery points), so its name
    // must differ per stack: CDK's default name is the same for every stack of this name, and the
    // next deploy after a failed create or a destroy would fail on the vault left behind. The
    // stack id's last UUID group is new for each stack created.
    const stackUuid = Fn.select(2, Fn.split('/', Stack.of(this).stackId));
    this.vault = new BackupVault(this, 'Vault', {
      backupVaultName: `${Stack.of(this).stackName.slice(0, VAULT_STACK_PREFIX)}-backup-${Fn.select(4, Fn.split('-', stackUuid))}`,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const plan = new BackupPlan(this, 'Backup', {
      backupVault: this.vault,
      backupPlanRules: [
        new BackupPlanRule({
          ruleName: 'DailyDataVolume',
          scheduleExpression: Schedule.cron({ hour: '3', minute: '0' }),
          deleteAfter: Duration.days(props.backupRetentionDays),
        }),
      ],
    });
    const volumeArn = Stack.of(this).formatArn({ service: 'ec2', resource: 'volume', resourceName: this.dataVolume.volumeId });
    const selection = plan.addSelection('DataVolume', { resources: [BackupResource.fromArn(volumeArn)] });
    Validations.of(selection).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup]',
      reason: 'The service role policy AWS Backup documents for taking EC2/EBS backups.',
    });
  }
}

/** The CA parameter's value until the host's first boot replaces it (not a certificate: functions refuse it). */
export const CA_PLACEHOLDER = 'pending: the MySQL host publishes its CA certificate at boot';

/** Backup vault names are at most 50 characters: this much of the stack name, '-backup-' and 12 hex digits. */
const VAULT_STACK_PREFIX = 30;

/** The newest Amazon Linux 2023 AMI when EC2 launches the instance: later AMIs do not touch it. */
function latestAl2023AtLaunch(arm: boolean): IMachineImage {
  const parameter = `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${arm ? 'arm64' : 'x86_64'}`;
  return MachineImage.resolveSsmParameterAtLaunch(parameter, { os: OperatingSystemType.LINUX });
}

/** One fixed AMI (context `hostAmiId`): changing it is a deliberate host replacement. */
function pinnedImage(imageId: string): IMachineImage {
  return { getImage: () => ({ imageId, osType: OperatingSystemType.LINUX, userData: UserData.forLinux() }) };
}
