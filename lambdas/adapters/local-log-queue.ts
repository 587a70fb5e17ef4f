import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { LogRecord, LogSink } from '#core/ports';
import { LOG_PIPELINE } from '#shared/log-pipeline';
import { ALARM, logger } from '#shared/logger';
import { encodeLogMessage } from './log-encoding.ts';

export type SqsConsumer = (event: SQSEvent) => Promise<SQSBatchResponse | void>;

export interface LocalQueueOptions {
  /** Records per consumer invocation (the Lambda event source mapping's BatchSize). */
  batchSize: number;
  /** How long a received message stays invisible before it can be received again. */
  visibilityTimeoutMs: number;
  /**
   * The consumer's time limit (the Lambda timeout): a batch still running then is given up and
   * counts as failed, its messages visible again once their visibility timeout has passed too.
   * Default: visibilityTimeoutMs. Longer lets tests keep quick redeliveries without giving up a
   * batch that is merely slow (its messages stay invisible until the consumer answers).
   */
  consumerTimeoutMs: number;
  /**
   * After its nth failed receive a message stays invisible visibilityTimeoutMs × backoff^(n−1).
   * 1 is SQS's fixed visibility timeout; more lets a longer outage pass before the DLQ.
   */
  visibilityBackoff: number;
  /** Receives after which a message that keeps failing moves to the dead-letter queue. */
  maxReceiveCount: number;
  /** Consumer invocations in flight at once (Lambda runs several batches concurrently). */
  concurrency: number;
  /**
   * Where dead letters, and on close the backlog not yet consumed, are appended (JSON lines), so
   * that neither is lost with the process; replaySaved() sends them again. Unset: memory only.
   */
  deadLetterFile?: string;
}

interface Message {
  messageId: string;
  body: string;
  sentAt: number;
  receiveCount: number;
  firstReceiveAt?: number;
  /** Sent again from the file: the file's copy may go once every such message is settled. */
  replayed?: boolean;
}

export interface DeadLetter {
  messageId: string;
  body: string;
  receiveCount: number;
}

/** One line of the dead-letter file. */
export interface SavedMessage {
  at: string;
  /** `handoff`: left by a short-lived command (npm run admin) for the next start to store. */
  reason: 'dead-letter' | 'shutdown' | 'handoff';
  message_id: string;
  receive_count: number;
  body: string;
}

const TIMED_OUT = Symbol('timed out');

/**
 * In-process stand-in for SQS + the Lambda event source mapping feeding L1. It keeps the
 * semantics the consumer relies on: batches, a message received is invisible until its visibility
 * timeout ends, only the ids L1 reports as failed (or the whole batch, if L1 throws or outlives
 * its time limit) come back, ApproximateReceiveCount counts receives, and a message whose
 * `maxReceiveCount`th receive fails moves to the dead-letter queue instead of being received again.
 */
export class LocalLogQueue implements LogSink {
  private readonly ready: Message[] = [];
  private head = 0;
  private readonly live = new Map<string, Message>(); // neither deleted nor dead-lettered (nor saved at close)
  private inFlight = 0;
  private scheduled = false;
  private closed = false;
  private replayLeft = 0; // replayed messages not settled yet
  private saveFailed = false;
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
    // Unset: SQS's own defaults (batches of 10, 30 s, fixed visibility), the pipeline's dead-lettering.
    const visibilityTimeoutMs = options.visibilityTimeoutMs ?? 30_000;
    const defaults = { batchSize: 10, visibilityBackoff: 1, maxReceiveCount: LOG_PIPELINE.maxReceiveCount, concurrency: 4 };
    this.options = { ...defaults, ...options, visibilityTimeoutMs, consumerTimeoutMs: options.consumerTimeoutMs ?? visibilityTimeoutMs };
  }

  async send(records: LogRecord[]): Promise<void> {
    if (this.closed) throw new Error('log queue is closed');
    const bodies = records.map((r) => encodeLogMessage(r));
    for (const body of bodies) this.enqueue(newMessage(body));
    this.schedule();
  }

  /** Sends raw bodies as they are (tests use it to put malformed messages on the queue). */
  sendRaw(bodies: string[]): void {
    for (const body of bodies) this.enqueue(newMessage(body));
    this.schedule();
  }

  /**
   * Sends again every message an earlier run saved to the dead-letter file (as a DLQ redrive
   * would), as new messages with their receive count reset. The file is set aside meanwhile as
   * `<file>.replaying` and removed once each replayed message is stored or saved anew, so a crash
   * mid-replay loses none of them (the next start replays them again). log_id dedups the raw
   * records of a message stored twice, not its hour-bucket statistics: a query record L1 had
   * stored before it was saved is counted twice in get_query_stats.
   */
  replaySaved(): number {
    const file = this.options.deadLetterFile;
    if (!file || this.replayLeft > 0) return 0; // once per start
    try {
      return this.replayFile(file);
    } catch (error) {
      // An unreadable or unwritable file costs its logs a start, never the start: they stay in it.
      logger.error('log dead-letter file could not be replayed: its messages stay for the next start', { alarm: ALARM.logStoreDown, file, error: error as Error });
      return 0;
    }
  }

  private replayFile(file: string): number {
    const replaying = `${file}.replaying`;
    if (existsSync(file)) {
      if (existsSync(replaying)) appendFileSync(replaying, readFileSync(file));
      else renameSync(file, replaying);
      rmSync(file, { force: true });
    }
    if (!existsSync(replaying)) return 0;
    const saved: SavedMessage[] = [];
    let unreadable = 0;
    for (const line of readFileSync(replaying, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        saved.push(JSON.parse(line) as SavedMessage);
      } catch {
        unreadable++; // a line cut short by a crash while it was written
      }
    }
    if (unreadable > 0) logger.warn('log dead-letter file: unreadable lines skipped', { count: unreadable, file: replaying });
    if (saved.length === 0) {
      rmSync(replaying, { force: true });
      return 0;
    }
    this.replayLeft += saved.length;
    for (const s of saved) this.enqueue({ ...newMessage(s.body), replayed: true });
    logger.info('log messages saved by an earlier run sent again', { count: saved.length, file });
    this.schedule();
    return saved.length;
  }

  /** Resolves when every message sent so far was deleted, dead-lettered or saved at close. */
  idle(): Promise<void> {
    if (this.live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  deadLetters(): readonly DeadLetter[] {
    return this.dead;
  }

  /**
   * Stops receiving. Messages not consumed yet (waiting, invisible, or in a batch still running)
   * are saved to the dead-letter file, never dropped silently; a batch that completes afterwards
   * may have stored some of them too: their replay dedups the raw records by log_id, but adds the
   * query records to their hour buckets a second time.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const left = [...this.live.values()];
    if (left.length > 0) {
      const file = this.options.deadLetterFile;
      if (this.save(left, 'shutdown')) logger.warn('log queue closed: messages not stored yet saved to the dead-letter file', { count: left.length, file });
      else logger.error('log queue closed: messages not stored yet are lost', { count: left.length });
    }
    for (const m of left) this.settle(m);
  }

  private enqueue(message: Message): void {
    this.live.set(message.messageId, message);
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
        message.receiveCount++;
        message.firstReceiveAt ??= Date.now();
        batch.push(message);
      }
      this.compact();
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
    let timer: NodeJS.Timeout | undefined;
    // As Lambda: once the consumer's time limit ends, the batch has failed, and its messages come
    // back even if the consumer still runs. Its late answer is ignored; a late store is deduped
    // by log_id for the raw records, but its hour-bucket ADDs count those query records twice.
    const timedOut = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), this.options.consumerTimeoutMs);
      this.timers.add(timer);
    });
    try {
      const response = await Promise.race([this.consumer({ Records: batch.map(toSqsRecord) }), timedOut]);
      if (response === TIMED_OUT) logger.warn('log consumer outlived its time limit: its batch is visible again', { count: batch.length });
      failedIds = new Set(response === TIMED_OUT ? batch.map((m) => m.messageId) : (response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch {
      failedIds = new Set(batch.map((m) => m.messageId)); // a thrown invocation returns the whole batch
    } finally {
      clearTimeout(timer);
      this.timers.delete(timer!);
    }
    if (this.closed) return; // close() saved every message it had not seen settled
    const failed: Message[] = [];
    const dead: Message[] = [];
    for (const message of batch) {
      if (!failedIds.has(message.messageId)) this.settle(message);
      else if (message.receiveCount >= this.options.maxReceiveCount) dead.push(message);
      else failed.push(message);
    }
    this.failedReceives += failed.length + dead.length;
    if (dead.length > 0) this.deadLetter(dead);
    // Failures with the same receive count share one receive time, so become visible together.
    const byCount = new Map<number, Message[]>();
    for (const m of failed) byCount.set(m.receiveCount, [...(byCount.get(m.receiveCount) ?? []), m]);
    for (const [count, messages] of byCount) {
      const invisibleMs = this.options.visibilityTimeoutMs * this.options.visibilityBackoff ** (count - 1);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.ready.push(...messages);
        this.schedule();
      }, Math.max(0, receivedAt + invisibleMs - Date.now()));
      this.timers.add(timer);
    }
  }

  private deadLetter(messages: Message[]): void {
    for (const m of messages) this.dead.push({ messageId: m.messageId, body: m.body, receiveCount: m.receiveCount });
    const saved = this.save(messages, 'dead-letter');
    const what = `log messages dead-lettered after ${this.options.maxReceiveCount} receives${saved ? '' : ' (in memory only)'}`;
    logger.warn(what, { count: messages.length, file: saved ? this.options.deadLetterFile : undefined });
    for (const m of messages) this.settle(m);
  }

  /** Appends messages to the dead-letter file (synchronously: it must be on disk before they settle). */
  private save(messages: Message[], reason: SavedMessage['reason']): boolean {
    const file = this.options.deadLetterFile;
    if (!file) return false;
    const at = new Date().toISOString();
    const lines = messages.map((m) => ({ at, reason, message_id: m.messageId, receive_count: m.receiveCount, body: m.body }) satisfies SavedMessage);
    try {
      appendSaved(file, lines);
      return true;
    } catch (error) {
      this.saveFailed = true;
      logger.error('could not write the log dead-letter file', { alarm: ALARM.logStoreDown, file, error: error as Error });
      return false;
    }
  }

  private settle(message: Message): void {
    if (!this.live.delete(message.messageId)) return;
    // The last replayed message is stored or in the file again: the .replaying copy can go (unless
    // a write to the file failed, then it is what keeps them).
    if (message.replayed && --this.replayLeft === 0 && !this.saveFailed && this.options.deadLetterFile) {
      rmSync(`${this.options.deadLetterFile}.replaying`, { force: true });
    }
    if (this.live.size === 0) for (const resolve of this.waiters.splice(0)) resolve();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.ready.length) {
      this.ready.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** Appends saved messages to a dead-letter file, as replaySaved() reads them (synchronously: on disk before they settle). */
export function appendSaved(file: string, saved: SavedMessage[]): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${saved.map((m) => JSON.stringify(m)).join('\n')}\n`);
}

function newMessage(body: string): Message {
  return { messageId: randomUUID(), body, sentAt: Date.now(), receiveCount: 0 };
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
