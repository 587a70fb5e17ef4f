import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LOG_PIPELINE } from '#shared/log-pipeline';
import { LOG_TABLE_KEY_SCHEMA, LOG_TABLE_TTL_ATTRIBUTE } from '#shared/log-table';
import { OctoFunction } from './octo-function.ts';

/**
 * The log pipeline: producers send JSON records to SQS; L1 writes them to the DynamoDB log_table
 * (key layout: lambdas/shared/log-table.ts) and reports failed records one by one (partial batch
 * responses); a record that fails LOG_PIPELINE.maxReceiveCount receives lands in the dead-letter
 * queue, which has an alarm. Batching and retries: lambdas/shared/log-pipeline.ts, as npm start's.
 */
export class Logging extends Construct {
  readonly queue: Queue;
  readonly deadLetters: Queue;
  readonly table: Table;
  readonly ingest: OctoFunction;

  /** `tableRetentionDays`: OCTODB_LOG_RETENTION_DAYS for L1, the writer of the items' TTL attribute (unset: its default). */
  constructor(scope: Construct, id: string, props: { logRetention: RetentionDays; tableRetentionDays?: number }) {
    super(scope, id);
    this.deadLetters = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(LOG_PIPELINE.visibilityTimeoutSeconds),
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: LOG_PIPELINE.maxReceiveCount },
    });

    this.table = new Table(this, 'LogTable', {
      partitionKey: cdkKey(LOG_TABLE_KEY_SCHEMA.AttributeDefinitions[0]),
      sortKey: cdkKey(LOG_TABLE_KEY_SCHEMA.AttributeDefinitions[1]),
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      // DynamoDB deletes items whose TTL attribute (epoch seconds) has passed; items without it stay.
      timeToLiveAttribute: LOG_TABLE_TTL_ATTRIBUTE,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.ingest = new OctoFunction(scope, 'LogIngest', {
      name: 'log-ingest',
      description: 'OctoDB L1: SQS log records to the DynamoDB log table',
      memoryMb: 256,
      timeout: Duration.seconds(LOG_PIPELINE.ingestTimeoutSeconds),
      logRetention: props.logRetention,
    }).bindLogTable(this.table, 'write');
    if (props.tableRetentionDays !== undefined) this.ingest.addEnvironment('OCTODB_LOG_RETENTION_DAYS', String(props.tableRetentionDays));
    this.ingest.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: LOG_PIPELINE.batchSize,
        maxBatchingWindow: Duration.seconds(LOG_PIPELINE.maxBatchingWindowSeconds),
        reportBatchItemFailures: true,
      }),
    );
  }
}

/** A key attribute of the shared layout as CDK's Table takes it (DynamoDB's type letters are CDK's enum values). */
const cdkKey = (a: { AttributeName: string; AttributeType: `${AttributeType}` }) => ({ name: a.AttributeName, type: a.AttributeType as AttributeType });
