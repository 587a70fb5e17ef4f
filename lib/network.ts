import { type CfnResource, type CustomResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  type GatewayVpcEndpoint,
  GatewayVpcEndpointAwsService,
  InterfaceVpcEndpointAwsService,
  IpAddresses,
  Peer,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  cidr: string;
  maxAzs: number;
  natGateways: number;
  interfaceEndpoints: boolean;
  redisPort: number;
  logRetention: RetentionDays;
}

/**
 * The VPC: public subnets hold only the NAT gateway(s); functions, the MySQL host and Redis live in
 * private subnets. Three security groups: the functions' one is the only source MySQL and Redis
 * accept; nothing accepts traffic from the internet.
 */
export class Network extends Construct {
  readonly vpc: Vpc;
  /** The S3 gateway endpoint: Amazon Linux 2023's package mirrors are S3 buckets. */
  readonly s3Endpoint: GatewayVpcEndpoint;
  readonly functionsSg: SecurityGroup;
  readonly mysqlSg: SecurityGroup;
  readonly redisSg: SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    this.vpc = new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr(props.cidr),
      maxAzs: props.maxAzs,
      natGateways: props.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'private', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
    });
    // DynamoDB and S3 (dnf's AL2023 mirrors) through free gateway endpoints, not the NAT.
    this.vpc.addGatewayEndpoint('dynamodb', { service: GatewayVpcEndpointAwsService.DYNAMODB });
    this.s3Endpoint = this.vpc.addGatewayEndpoint('s3', { service: GatewayVpcEndpointAwsService.S3 });
    // CDK's provider that empties the default security group (only with cdk.json's
    // restrictDefaultSecurityGroup flag) runs up to 15 minutes; CloudFormation would wait an hour if it never answered.
    const restrict = this.vpc.node.tryFindChild('RestrictDefaultSecurityGroupCustomResource') as CustomResource | undefined;
    (restrict?.node.defaultChild as CfnResource | undefined)?.addPropertyOverride('ServiceTimeout', Duration.minutes(16).toSeconds());
    this.vpc.addFlowLog('RejectedFlows', {
      trafficType: FlowLogTrafficType.REJECT,
      destination: FlowLogDestination.toCloudWatchLogs(
        new LogGroup(this, 'FlowLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY }),
      ),
    });

    this.functionsSg = new SecurityGroup(this, 'FunctionsSg', {
      vpc: this.vpc,
      description: 'OctoDB functions that reach MySQL or Redis',
      allowAllOutbound: false,
    });
    this.mysqlSg = new SecurityGroup(this, 'MysqlSg', {
      vpc: this.vpc,
      description: 'OctoDB MySQL host: MySQL from the functions only, no SSH',
      allowAllOutbound: false,
    });
    this.redisSg = new SecurityGroup(this, 'RedisSg', {
      vpc: this.vpc,
      description: 'OctoDB Redis: from the functions only',
      allowAllOutbound: false,
    });

    this.mysqlSg.addIngressRule(this.functionsSg, Port.tcp(3306), 'MySQL from OctoDB functions');
    this.redisSg.addIngressRule(this.functionsSg, Port.tcp(props.redisPort), 'Redis (TLS) from OctoDB functions');
    this.functionsSg.addEgressRule(this.mysqlSg, Port.tcp(3306), 'MySQL host');
    this.functionsSg.addEgressRule(this.redisSg, Port.tcp(props.redisPort), 'Redis');
    this.functionsSg.addEgressRule(Peer.anyIpv4(), Port.tcp(443), 'AWS APIs and Mailgun over HTTPS');
    // The host needs HTTPS for SSM, Secrets Manager, dnf and the Skeema release; plain HTTP for nothing.
    this.mysqlSg.addEgressRule(Peer.anyIpv4(), Port.tcp(443), 'SSM, Secrets Manager, package repositories');

    if (props.interfaceEndpoints) {
      const endpointSg = new SecurityGroup(this, 'EndpointsSg', {
        vpc: this.vpc,
        description: 'OctoDB interface endpoints: HTTPS from inside the VPC',
        allowAllOutbound: false,
      });
      endpointSg.addIngressRule(this.functionsSg, Port.tcp(443), 'functions');
      endpointSg.addIngressRule(this.mysqlSg, Port.tcp(443), 'MySQL host (SSM agent)');
      const services = {
        Ssm: InterfaceVpcEndpointAwsService.SSM,
        SsmMessages: InterfaceVpcEndpointAwsService.SSM_MESSAGES,
        Ec2Messages: InterfaceVpcEndpointAwsService.EC2_MESSAGES,
        SecretsManager: InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
        Lambda: InterfaceVpcEndpointAwsService.LAMBDA,
        Sqs: InterfaceVpcEndpointAwsService.SQS,
      };
      for (const [name, service] of Object.entries(services)) {
        this.vpc.addInterfaceEndpoint(name, { service, securityGroups: [endpointSg], open: false });
      }
    }
  }
}
