import { Validations } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import { SubnetType } from 'aws-cdk-lib/aws-ec2';
import { CfnReplicationGroup, CfnSubnetGroup } from 'aws-cdk-lib/aws-elasticache';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface CacheProps {
  vpc: IVpc;
  securityGroup: ISecurityGroup;
  nodeType: string;
  replicas: number;
  port: number;
  /** The AUTH token's secret (lib/secrets.ts): its whole string. */
  authToken: ISecret;
}

/** Where a function reaches Redis: the TLS URL (no password in it) and the secret holding the token. */
export interface RedisEndpoint {
  readonly url: string;
  readonly authToken: ISecret;
}

/**
 * ElastiCache Redis in the private subnets, TLS required in transit (ioredis connects with
 * rediss:// and verifies the server's certificate), encrypted at rest, and AUTH with a token that
 * Secrets Manager generates: the template holds a dynamic reference to it, never its value, and a
 * function reads it at cold start (OCTODB_REDIS_AUTH_SECRET_ARN). It holds the current-token
 * registry, migration locks, rate-limit buckets and the storage-quota state.
 */
export class Cache extends Construct implements RedisEndpoint {
  readonly url: string;
  readonly authToken: ISecret;
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
      // `{{resolve:secretsmanager:…}}`: CloudFormation reads the value while it deploys.
      authToken: props.authToken.secretValue.unsafeUnwrap(),
      atRestEncryptionEnabled: true,
      cacheSubnetGroupName: subnets.ref,
      securityGroupIds: [props.securityGroup.securityGroupId],
      snapshotRetentionLimit: 1,
      autoMinorVersionUpgrade: true,
    });
    this.url = `rediss://${this.group.attrPrimaryEndPointAddress}:${this.group.attrPrimaryEndPointPort}`;
    this.authToken = props.authToken;
    if (!multiAz) {
      Validations.of(this.group).acknowledge({
        id: 'AwsSolutions-AEC4',
        reason: 'Single node by default for cost; set redisReplicas >= 1 for Multi-AZ. A lost node costs cached token state, rebuilt from MetaDB.',
      });
    }
  }
}
