import { randomUUID } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { LogRecord, LogSink } from '#core/ports';
import { encodeLogMessage } from './log-encoding.ts';

export type SqsConsumer = (event: SQSEvent) => Promise<SQSBatchResponse | void>;

export interface LocalQueueOptions {
  /** Records per consumer invocation (the Lambda event source mapping's BatchSize). */
  batchSize: number;
  /** How long a received message stays invisible before it can be received again. */
  visibilityTimeoutMs: number;
  /** Receives after which a message that keeps failing moves to the dead-letter queue. */
  maxReceiveCount: number;
  /** Consumer invocations in flight at once (Lambda runs several batches concurrently). */
  concurrency: number;
}

interface Message {
  messageId: string;
  body: string;
  sentAt: number;
  receiveCount: number;
  firstReceiveAt?: number;
}

export interface DeadLetter {
  messageId: string;
  body: string;
  receiveCount: number;
}

/**
 * In-process stand-in for SQS + the Lambda event source mapping feeding L1. It keeps the
 * semantics the consumer relies on: batches, a message received is invisible until its visibility
 * timeout ends, only the ids L1 reports as failed (or the whole batch, if L1 throws) come back,
 * ApproximateReceiveCount counts receives, and a message received `maxReceiveCount` times without
 * success moves to the dead-letter queue instead of being received again.
 */
export class LocalLogQueue implements LogSink {
  private readonly ready: Message[] = [];
  private head = 0;
  private pending = 0; // messages neither deleted nor dead-lettered
  private inFlight = 0;
  private scheduled = false;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiters: (() => void)[] = [];
  private readonly dead: DeadLetter[] = [];
  private readonly options: LocalQueueOptions;
  /** Receives that ended in failure (for tests and the bench). */
  failedReceives = 0;

  constructor(
    private readonly consumer: SqsConsumer,
    options: Partial<LocalQueueOptions> = {},
  ) {
    this.options = { batchSize: 10, visibilityTimeoutMs: 30_000, maxReceiveCount: 3, concurrency: 4, ...options };
  }

  async send(records: LogRecord[]): Promise<void> {
    if (this.closed) throw new Error('log queue is closed');
    const bodies = records.map((r) => encodeLogMessage(r));
    for (const body of bodies) this.enqueue({ messageId: randomUUID(), body, sentAt: Date.now(), receiveCount: 0 });
    this.schedule();
  }

  /** Sends raw bodies as they are (tests use it to put malformed messages on the queue). */
  sendRaw(bodies: string[]): void {
    for (const body of bodies) this.enqueue({ messageId: randomUUID(), body, sentAt: Date.now(), receiveCount: 0 });
    this.schedule();
  }

  /** Resolves when every message sent so far was deleted or dead-lettered. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  deadLetters(): readonly DeadLetter[] {
    return this.dead;
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private enqueue(message: Message): void {
    this.pending++;
    this.ready.push(message);
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    // Sends within one tick share batches, as a batching window would.
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (!this.closed && this.inFlight < this.options.concurrency && this.head < this.ready.length) {
      const batch: Message[] = [];
      while (batch.length < this.options.batchSize && this.head < this.ready.length) {
        const message = this.ready[this.head++]!;
        if (message.receiveCount >= this.options.maxReceiveCount) {
          this.deadLetter(message);
          continue;
        }
        message.receiveCount++;
        message.firstReceiveAt ??= Date.now();
        batch.push(message);
      }
      this.compact();
      if (batch.length === 0) continue;
      this.inFlight++;
      void this.deliver(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async deliver(batch: Message[]): Promise<void> {
    const receivedAt = Date.now();
    let failedIds: Set<string>;
    try {
      const response = await this.consumer({ Records: batch.map(toSqsRecord) });
      failedIds = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch {
      failedIds = new Set(batch.map((m) => m.messageId)); // a thrown invocation returns the whole batch
    }
    const failed: Message[] = [];
    for (const message of batch) {
      if (failedIds.has(message.messageId)) failed.push(message);
      else this.settle();
    }
    if (failed.length === 0) return;
    this.failedReceives += failed.length;
    // A batch's failures share one receive time, so they become visible again together.
    const wait = Math.max(0, receivedAt + this.options.visibilityTimeoutMs - Date.now());
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.ready.push(...failed);
      this.schedule();
    }, wait);
    this.timers.add(timer);
  }

  private deadLetter(message: Message): void {
    this.dead.push({ messageId: message.messageId, body: message.body, receiveCount: message.receiveCount });
    this.settle();
  }

  private settle(): void {
    this.pending--;
    if (this.pending === 0) for (const resolve of this.waiters.splice(0)) resolve();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.ready.length) {
      this.ready.splice(0, this.head);
      this.head = 0;
    }
  }
}

function toSqsRecord(message: Message): SQSRecord {
  return {
    messageId: message.messageId,
    receiptHandle: `${message.messageId}:${message.receiveCount}`,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: String(message.sentAt),
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: String(message.firstReceiveAt ?? message.sentAt),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:local:000000000000:octodb-logs',
    awsRegion: 'local',
  };
}
