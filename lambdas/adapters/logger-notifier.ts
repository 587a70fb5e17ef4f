import type { Email, Notifier } from '#core/ports';
import { logger } from '#shared/logger';

/** On Lambda without Mailgun: each email becomes one structured log line (the file system is read-only). */
export class LoggerNotifier implements Notifier {
  constructor(
    private readonly from: string,
    private readonly write: (message: string, fields: Record<string, unknown>) => void = (message, fields) => logger.info(message, fields),
  ) {}

  async send(email: Email): Promise<void> {
    this.write('email not sent (no Mailgun configured)', { email: { from: this.from, ...email } });
  }
}
