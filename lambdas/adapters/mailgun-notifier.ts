import Mailgun from 'mailgun.js';
import type { Email, Notifier } from '#core/ports';

/** Email through Mailgun's API with the official client; `url` is configurable (EU region, tests). */
export class MailgunNotifier implements Notifier {
  private readonly client;

  constructor(
    options: { key: string; url: string },
    private readonly domain: string,
    private readonly from: string,
  ) {
    this.client = new Mailgun(FormData).client({ username: 'api', key: options.key, url: options.url });
  }

  async send(email: Email): Promise<void> {
    await this.client.messages.create(this.domain, { from: this.from, to: [email.to], subject: email.subject, text: email.text });
  }
}
