import { Validations } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import { SubnetType } from 'aws-cdk-lib/aws-ec2';
import { CfnReplicationGroup, CfnSubnetGroup } from 'aws-cdk-lib/aws-elasticache';
import { Construct } from 'constructs';

export interface CacheProps {
  vpc: IVpc;
  securityGroup: ISecurityGroup;
  nodeType: string;
  replicas: number;
  port: number;
}

/**
 * ElastiCache Redis in the private subnets, TLS in transit (ioredis connects with rediss://) and
 * encrypted at rest. It holds the current-token registry and migration job state.
 */
export class Cache extends Construct {
  readonly url: string;
  readonly group: CfnReplicationGroup;

  constructor(scope: Construct, id: string, props: CacheProps) {
    super(scope, id);
    const subnets = new CfnSubnetGroup(this, 'Subnets', {
      description: 'OctoDB Redis: private subnets',
      subnetIds: props.vpc.selectSubnets({ subnetType: SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
    });
    const multiAz = props.replicas > 0;
    this.group = new CfnReplicationGroup(this, 'Redis', {
      replicationGroupDescription: 'OctoDB token registry and job state',
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: props.nodeType,
      numCacheClusters: 1 + props.replicas,
      automaticFailoverEnabled: multiAz,
      multiAzEnabled: multiAz,
      port: props.port,
      transitEncryptionEnabled: true,
      transitEncryptionMode: 'required',
      atRestEncryptionEnabled: true,
      cacheSubnetGroupName: subnets.ref,
      securityGroupIds: [props.securityGroup.securityGroupId],
      snapshotRetentionLimit: 1,
      autoMinorVersionUpgrade: true,
    });
    this.url = `rediss://${this.group.attrPrimaryEndPointAddress}:${this.group.attrPrimaryEndPointPort}`;

    Validations.of(this.group).acknowledge({
      id: 'AwsSolutions-AEC6',
      reason:
        'No AUTH token: its value would have to sit in every function environment (OCTODB_REDIS_URL). Redis accepts only the functions security group, in private subnets, over TLS.',
    });
    if (!multiAz) {
      Validations.of(this.group).acknowledge({
        id: 'AwsSolutions-AEC4',
        reason: 'Single node by default for cost; set redisReplicas >= 1 for Multi-AZ. A lost node costs cached token state, rebuilt from MetaDB.',
      });
    }
  }
}
