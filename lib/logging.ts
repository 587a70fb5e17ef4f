import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { OctoFunction } from './octo-function.ts';

const INGEST_TIMEOUT = Duration.seconds(30);

/**
 * The log pipeline: producers send JSON records to SQS; L1 writes them to the DynamoDB log_table
 * (partition tenant_id) and reports failed records one by one (partial batch responses); a record
 * that fails 3 receives lands in the dead-letter queue, which has an alarm.
 */
export class Logging extends Construct {
  readonly queue: Queue;
  readonly deadLetters: Queue;
  readonly table: Table;
  readonly ingest: OctoFunction;

  constructor(scope: Construct, id: string, props: { logRetention: RetentionDays }) {
    super(scope, id);
    this.deadLetters = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // AWS's guidance for an SQS event source: at least 6 × the function timeout.
      visibilityTimeout: Duration.seconds(INGEST_TIMEOUT.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: 3 },
    });

    this.table = new Table(this, 'LogTable', {
      partitionKey: { name: 'tenant_id', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.ingest = new OctoFunction(scope, 'LogIngest', {
      name: 'log-ingest',
      description: 'OctoDB L1: SQS log records to the DynamoDB log table',
      memoryMb: 256,
      timeout: INGEST_TIMEOUT,
      logRetention: props.logRetention,
    }).bindLogTable(this.table, 'write');
    this.ingest.addEventSource(
      new SqsEventSource(this.queue, { batchSize: 25, maxBatchingWindow: Duration.seconds(2), reportBatchItemFailures: true }),
    );
  }
}
