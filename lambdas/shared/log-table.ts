/**
 * The log table's key layout, defined once for the CDK table (lib/logging.ts) and the adapter
 * that reads, writes and, locally, creates it (lambdas/adapters/dynamo-log-store.ts). One
 * partition per tenant; the sort key orders a tenant's items by kind and time (its values are the
 * core's: sortKey in core/logs.ts, bucketKey in core/query-stats.ts). Both keys are strings. No
 * secondary index: every item is read through its tenant's partition. Items expire through
 * DynamoDB's TTL on LOG_TABLE_TTL_ATTRIBUTE (epoch seconds, written by the adapter from
 * OCTODB_LOG_RETENTION_DAYS; never read back as part of a record).
 */
export const LOG_TABLE_PARTITION_KEY = 'tenant_id';
export const LOG_TABLE_SORT_KEY = 'sk';
export const LOG_TABLE_TTL_ATTRIBUTE = 'expires_at';

/** An item's key, by the attribute names above. */
export type LogTableKey = Record<typeof LOG_TABLE_PARTITION_KEY | typeof LOG_TABLE_SORT_KEY, string>;

/**
 * The key schema as DynamoDB's CreateTable takes it and as CloudFormation's AWS::DynamoDB::Table
 * holds it (the same shape in both).
 */
export const LOG_TABLE_KEY_SCHEMA = {
  AttributeDefinitions: [
    { AttributeName: LOG_TABLE_PARTITION_KEY, AttributeType: 'S' },
    { AttributeName: LOG_TABLE_SORT_KEY, AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: LOG_TABLE_PARTITION_KEY, KeyType: 'HASH' },
    { AttributeName: LOG_TABLE_SORT_KEY, KeyType: 'RANGE' },
  ],
} as const;
