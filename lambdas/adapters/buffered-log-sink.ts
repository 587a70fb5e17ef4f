import type { LogRecord, LogSink } from '#core/ports';
import { logger } from '#shared/logger';

export interface LogBufferOptions {
  /** Records held at most; a send beyond it waits for a flush (never drops). */
  maxRecords: number;
  /** How long a record waits for others to share its batch. */
  flushMs: number;
}

/**
 * A log port that does not make the request wait: records are held in memory and handed to the
 * real sink in batches, at most `flushMs` later. close() hands over everything held, so a normal
 * shutdown loses nothing; a crash loses what was still held (≤ flushMs of records, ≤ maxRecords),
 * as it loses the in-process queue's backlog anyway. For long-running processes only: on Lambda a
 * frozen sandbox would hold the records until its next request, or lose them.
 */
export class BufferedLogSink implements LogSink {
  private held: LogRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly target: LogSink,
    private readonly options: LogBufferOptions = { maxRecords: 10_000, flushMs: 20 },
  ) {}

  async send(records: LogRecord[]): Promise<void> {
    if (this.held.length + records.length > this.options.maxRecords) await this.flush();
    for (const record of records) this.held.push(record);
    this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs).unref();
  }

  /** Hands every record held so far to the real sink; resolves once it took them. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.held;
    this.held = [];
    // One hand-over at a time, in order.
    this.flushing = this.flushing.then(() => (batch.length > 0 ? this.handOver(batch) : undefined));
    return this.flushing;
  }

  private async handOver(batch: LogRecord[]): Promise<void> {
    try {
      await this.target.send(batch);
    } catch (error) {
      // As when each query sent its own record: a log outage must not fail queries.
      logger.error('log records lost: the log sink refused them', { count: batch.length, error: error as Error });
    }
  }
}
