import type { LogRecord, LogSink } from '#core/ports';
import { logger } from '#shared/logger';

/** Writes log records to the structured logger: the sink used until a log pipeline is wired. */
export class LoggerLogSink implements LogSink {
  async send(records: LogRecord[]): Promise<void> {
    for (const record of records) logger.info('log record', { record });
  }
}
