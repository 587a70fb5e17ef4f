import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Email, Notifier } from '#core/ports';

/** Without a Mailgun key: each email becomes one JSON line in a local outbox file. */
export class OutboxNotifier implements Notifier {
  constructor(
    private readonly file: string,
    private readonly from: string,
  ) {}

  async send(email: Email): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    await appendFile(this.file, `${JSON.stringify({ from: this.from, ...email, sent_at: new Date().toISOString() })}\n`, { mode: 0o600 });
  }
}
