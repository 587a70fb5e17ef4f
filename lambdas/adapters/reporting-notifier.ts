import type { Email, Notifier } from '#core/ports';
import { ALARM, logger } from '#shared/logger';

/**
 * Every notifier, wrapped: an email that cannot be handed over (Mailgun refuses it or is down, the
 * outbox cannot be written) is logged at ERROR with `alarm: EMAIL_NOT_SENT`, its cause, its subject
 * and the recipient's domain (never its text, which may hold a signup code, nor the whole address),
 * and counted; the error then goes on to the caller, which decides (a 503, a send held for the sweep).
 */
export class ReportingNotifier implements Notifier {
  /** Emails this process could not hand over. */
  failures = 0;

  constructor(
    private readonly inner: Notifier,
    /** Which way emails go: `mailgun`, `outbox` or `log`. */
    private readonly via: string,
  ) {}

  async send(email: Email): Promise<void> {
    try {
      await this.inner.send(email);
    } catch (error) {
      this.failures++;
      logger.error('email not sent', {
        alarm: ALARM.emailNotSent,
        via: this.via,
        subject: email.subject,
        recipient_domain: email.to.slice(email.to.lastIndexOf('@') + 1),
        failures: this.failures,
        // Mailgun's answer: its HTTP status and what it said (mailgun.js puts them on the error).
        status: (error as { status?: unknown }).status,
        details: (error as { details?: unknown }).details,
        error: error as Error,
      });
      throw error;
    }
  }
}
