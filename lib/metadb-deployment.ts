import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomResource, Duration } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { DatabaseHost } from './database-host.ts';
import { OctoFunction, ROOT } from './octo-function.ts';

export interface MetaDbDeploymentProps {
  host: DatabaseHost;
  hostId: string;
  network: { vpc: IVpc; securityGroup: ISecurityGroup };
  mysqlSecret: ISecret;
  /** The API account's secret: the deployment creates that account and keeps its password and grants in step. */
  apiSecret: ISecret;
  mysqlUrl: string;
  logRetention: RetentionDays;
}

/**
 * Pushes schemas/meta to the MetaDB, creates the API account (DML on MetaDB only) and registers the host, on every deploy that changes the
 * schema files or the host (a custom resource backed by lambdas/metadb-migrate). It runs only
 * after the host signalled that MySQL and Skeema are installed (the instance's creation policy).
 */
export class MetaDbDeployment extends Construct {
  readonly migrator: OctoFunction;
  readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: MetaDbDeploymentProps) {
    super(scope, id);
    this.migrator = new OctoFunction(this, 'Migrator', {
      name: 'metadb-migrate',
      description: 'OctoDB: pushes the MetaDB schema with Skeema on the host (deploy-time custom resource)',
      memoryMb: 256,
      timeout: Duration.minutes(15),
      logRetention: props.logRetention,
      network: props.network,
      bundleDirs: { 'schemas/meta': 'meta' },
    })
      .bindMysql(props.mysqlSecret, props.mysqlUrl)
      .bindMysqlApi(props.apiSecret, props.mysqlUrl)
      .bindHostRunner([props.host.instance.instanceId], 180);

    this.resource = new CustomResource(this, 'MetaDb', {
      serviceToken: this.migrator.functionArn,
      resourceType: 'Custom::OctoDbMetaDb',
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

/** Changes whenever a MetaDB schema file changes, so CloudFormation re-runs the push. */
function schemaHash(dir: string): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
    hash.update(file).update('\0').update(readFileSync(join(dir, file))).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}
