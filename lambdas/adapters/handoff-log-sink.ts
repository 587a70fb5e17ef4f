import { randomUUID } from 'node:crypto';
import type { LogRecord, LogSink } from '#core/ports';
import { encodeLogMessage } from './log-encoding.ts';
import { appendSaved } from './local-log-queue.ts';

/**
 * For a short-lived local command (npm run admin): it cannot open the running gateway's dynalite
 * (LevelDB allows one process per directory), so it leaves its log records in the dead-letter file
 * that the next `npm start` sends to the log table, as it does with its own saved backlog.
 */
export class HandoffLogSink implements LogSink {
  constructor(private readonly file: string) {}

  async send(records: LogRecord[]): Promise<void> {
    const at = new Date().toISOString();
    appendSaved(this.file, records.map((r) => ({ at, reason: 'handoff', message_id: randomUUID(), receive_count: 0, body: encodeLogMessage(r) })));
  }
}
