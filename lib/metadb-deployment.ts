import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CfnElement, CustomResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { DatabaseHost } from './database-host.ts';
import { type MysqlServer, OctoFunction, ROOT } from './octo-function.ts';

export interface MetaDbDeploymentProps {
  host: DatabaseHost;
  hostId: string;
  network: { vpc: IVpc; securityGroup: ISecurityGroup };
  mysqlSecret: ISecret;
  /** The API account's secret: the deployment creates that account and keeps its password and grants in step. */
  apiSecret: ISecret;
  mysql: MysqlServer;
  logRetention: RetentionDays;
}

/**
 * Pushes schemas/meta to the MetaDB, creates the API account (DML on MetaDB only) and registers the host, on every deploy that changes the
 * schema files or the host (a custom resource backed by lambdas/metadb-migrate). It runs only
 * after the host signalled that MySQL and Skeema are installed (the instance's creation policy).
 *
 * CDK's Provider framework answers CloudFormation: its function invokes the migrator (the onEvent
 * handler) synchronously and PUTs SUCCESS with the returned PhysicalResourceId, or FAILED with the
 * error's message, also when the migrator times out. The migrator's timeout stays under the
 * framework's own 15 minutes, so a stuck push is answered FAILED and never leaves the stack waiting
 * an hour. (No isComplete handler: the deployment finishes in one invocation, so the framework's
 * totalTimeout, which bounds isComplete polling, does not apply.) The custom resource's service
 * timeout, a minute over the framework's, bounds the wait when the framework itself never answers.
 */
export class MetaDbDeployment extends Construct {
  readonly migrator: OctoFunction;
  readonly provider: Provider;
  readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: MetaDbDeploymentProps) {
    super(scope, id);
    this.migrator = new OctoFunction(this, 'Migrator', {
      name: 'metadb-migrate',
      description: 'OctoDB: pushes the MetaDB schema with Skeema on the host (deploy-time custom resource)',
      memoryMb: 256,
      timeout: MIGRATOR_TIMEOUT,
      logRetention: props.logRetention,
      network: props.network,
      bundleDirs: { 'schemas/meta': 'meta' },
    })
      .bindMysql(props.mysqlSecret, props.mysql)
      .bindMysqlApi(props.apiSecret, props.mysql)
      .bindHostRunner([props.host.instance.instanceId], 180);

    // The framework's function: outside the VPC (it calls only the Lambda API and CloudFormation's
    // pre-signed S3 URL), with a role of its own that may write its logs and invoke the migrator, nothing else.
    const frameworkLogs = new LogGroup(this, 'ProviderLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const frameworkRole = new Role(this, 'ProviderRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'OctoDB MetaDB deployment: custom resource provider framework',
    });
    frameworkLogs.grantWrite(frameworkRole);
    this.provider = new Provider(this, 'Provider', { onEventHandler: this.migrator, frameworkOnEventRole: frameworkRole, logGroup: frameworkLogs });
    const migratorId = Stack.of(this).resolve(Stack.of(this).getLogicalId(this.migrator.node.defaultChild as CfnElement)) as string;
    Validations.of(frameworkRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${migratorId}.Arn>:*]`,
      reason: 'CDK grants the Provider framework lambda:InvokeFunction on the migrator and its versions/aliases (ARN:*); nothing else.',
    });

    this.resource = new CustomResource(this, 'MetaDb', {
      serviceToken: this.provider.serviceToken,
      resourceType: 'Custom::OctoDbMetaDb',
      // Without it CloudFormation waits an hour for an answer that a framework crashing at start never sends.
      serviceTimeout: FRAMEWORK_TIMEOUT.plus(Duration.minutes(1)),
      properties: {
        HostId: props.hostId,
        InstanceId: props.host.instance.instanceId,
        Endpoint: props.host.hostname,
        Port: '3306',
        SchemaHash: schemaHash(join(ROOT, 'schemas', 'meta')),
        // A new API secret (or a stack that had none) re-runs the deployment, which creates the account.
        ApiSecretArn: props.apiSecret.secretArn,
      },
    });
    this.resource.node.addDependency(props.host.record, props.network.vpc.internetConnectivityEstablished);
  }
}

/** The Provider framework function's fixed timeout. */
const FRAMEWORK_TIMEOUT = Duration.minutes(15);
/** Under the framework's: the framework outlives the migrator and answers FAILED for it. */
const MIGRATOR_TIMEOUT = FRAMEWORK_TIMEOUT.minus(Duration.minutes(1));

/** Changes whenever a MetaDB schema file changes, so CloudFormation re-runs the push. */
function schemaHash(dir: string): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
    hash.update(file).update('\0').update(readFileSync(join(dir, file))).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}
