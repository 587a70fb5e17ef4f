/**
 * The log pipeline's settings, defined once for the SQS queue and L1's event source mapping
 * (lib/logging.ts) and for the in-process queue of `npm start` (bin/local.ts, LocalLogQueue), so
 * both runtimes batch, retry and dead-letter alike.
 */
const INGEST_TIMEOUT_SECONDS = 30;

export const LOG_PIPELINE = {
  /** Records per L1 invocation (the event source mapping's BatchSize; BatchWriteItem takes 25 at once). */
  batchSize: 25,
  /** On AWS, how long the event source mapping gathers records before it invokes L1 with fewer. */
  maxBatchingWindowSeconds: 2,
  /** L1's time limit: its Lambda timeout, and locally when a batch still running counts as failed. */
  ingestTimeoutSeconds: INGEST_TIMEOUT_SECONDS,
  /** Receives after which a message that keeps failing moves to the dead-letter queue. */
  maxReceiveCount: 3,
  /** On AWS, how long a received message stays invisible: AWS's guidance for an SQS event source is ≥ 6 × the function timeout. */
  visibilityTimeoutSeconds: 6 * INGEST_TIMEOUT_SECONDS,
  /**
   * Locally, a failed message is received again ingestTimeoutSeconds after its first failure and
   * this many times longer after each next one (30 s, then 5 min): a dynalite outage of ~5 min loses nothing.
   */
  localVisibilityBackoff: 10,
} as const;
