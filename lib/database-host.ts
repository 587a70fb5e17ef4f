import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { BackupPlan, BackupPlanRule, BackupResource, BackupVault } from 'aws-cdk-lib/aws-backup';
import {
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  HttpTokens,
  Instance,
  InstanceArchitecture,
  InstanceType,
  type ISecurityGroup,
  type IVpc,
  MachineImage,
  AmazonLinuxCpuType,
  SubnetType,
  UserData,
} from 'aws-cdk-lib/aws-ec2';
import { Schedule } from 'aws-cdk-lib/aws-events';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { ARecord, PrivateHostedZone, RecordTarget } from 'aws-cdk-lib/aws-route53';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { hostBootstrapCommands } from './host-user-data.ts';

/** The private DNS zone and name the functions reach MySQL at (stable across host replacement). */
export const PRIVATE_ZONE = 'octodb.internal';
export const MYSQL_HOSTNAME = `mysql.${PRIVATE_ZONE}`;

export interface DatabaseHostProps {
  vpc: IVpc;
  securityGroup: ISecurityGroup;
  adminSecret: ISecret;
  instanceType: string;
  volumeGb: number;
  terminationProtection: boolean;
  backupRetentionDays: number;
  mysqlSeries: '8.0' | '8.4';
  skeemaVersion: string;
  skeemaSha256: { arm64: string; amd64: string };
}

/**
 * The MySQL EC2 host (Amazon Linux 2023) in a private subnet: managed by SSM only (no key pair,
 * no inbound rule but MySQL from the functions), IMDSv2, encrypted gp3 root volume backed up
 * daily by AWS Backup. CloudFormation waits for its bootstrap to signal success.
 */
export class DatabaseHost extends Construct {
  readonly instance: Instance;
  readonly record: ARecord;
  readonly hostname = MYSQL_HOSTNAME;

  constructor(scope: Construct, id: string, props: DatabaseHostProps) {
    super(scope, id);
    const instanceType = new InstanceType(props.instanceType);
    const arm = instanceType.architecture === InstanceArchitecture.ARM_64;
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description: 'OctoDB MySQL host: SSM agent, reads the MySQL admin secret',
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    props.adminSecret.grantRead(role);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      reason: 'The SSM agent policy AWS maintains for managed instances; SSM is the only way onto this host.',
    });

    const userData = UserData.forLinux();
    this.instance = new Instance(this, 'Instance', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      instanceType,
      machineImage: MachineImage.latestAmazonLinux2023({ cpuType: arm ? AmazonLinuxCpuType.ARM_64 : AmazonLinuxCpuType.X86_64 }),
      securityGroup: props.securityGroup,
      role,
      userData,
      httpTokens: HttpTokens.REQUIRED, // IMDSv2 on the instance itself (requireImdsv2 adds a fixed-name launch template)
      httpPutResponseHopLimit: 1,
      detailedMonitoring: true,
      disableApiTermination: props.terminationProtection,
      associatePublicIpAddress: false,
      ebsOptimized: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: BlockDeviceVolume.ebs(props.volumeGb, { volumeType: EbsDeviceVolumeType.GP3, encrypted: true, deleteOnTermination: true }),
        },
      ],
      resourceSignalTimeout: Duration.minutes(30),
    });
    userData.addCommands(
      ...hostBootstrapCommands({
        region: Stack.of(this).region,
        adminSecretArn: props.adminSecret.secretArn,
        mysqlSeries: props.mysqlSeries,
        skeemaVersion: props.skeemaVersion,
        skeemaArch: arm ? 'arm64' : 'amd64',
        skeemaSha256: arm ? props.skeemaSha256.arm64 : props.skeemaSha256.amd64,
      }),
    );
    userData.addSignalOnExitCommand(this.instance);
    if (!props.terminationProtection) {
      Validations.of(this.instance).acknowledge({
        id: 'AwsSolutions-EC29',
        reason: 'Termination protection turned off by the hostTerminationProtection context setting; daily AWS Backup copies remain.',
      });
    }

    const zone = new PrivateHostedZone(this, 'Zone', { zoneName: PRIVATE_ZONE, vpc: props.vpc });
    this.record = new ARecord(this, 'MysqlRecord', {
      zone,
      recordName: 'mysql',
      target: RecordTarget.fromIpAddresses(this.instance.instancePrivateIp),
      ttl: Duration.minutes(1),
    });

    const plan = new BackupPlan(this, 'Backup', {
      backupVault: new BackupVault(this, 'Vault'),
      backupPlanRules: [
        new BackupPlanRule({
          ruleName: 'DailyHostVolume',
          scheduleExpression: Schedule.cron({ hour: '3', minute: '0' }),
          deleteAfter: Duration.days(props.backupRetentionDays),
        }),
      ],
    });
    const selection = plan.addSelection('Host', { resources: [BackupResource.fromEc2Instance(this.instance)] });
    Validations.of(selection).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup]',
      reason: 'The service role policy AWS Backup documents for taking EC2/EBS backups.',
    });
  }
}
