import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { notifierFor } from '#adapters/wiring';
import { loadConfig } from '#shared/config';
import { printedBy } from '../support/logged.ts';

describe('email without Mailgun', () => {
  const outbox = () => join(mkdtempSync(join(tmpdir(), 'outbox-')), 'outbox.jsonl');
  afterEach(() => vi.restoreAllMocks());

  it('on Lambda goes to the structured log, never to a file under the read-only bundle', async () => {
    const file = outbox();
    const notifier = await notifierFor(loadConfig({ OCTODB_RUNTIME: 'lambda', OCTODB_OUTBOX_FILE: file }));
    const printed = await printedBy(() => notifier.send({ to: 'ops@example.com', subject: 'Migration failed', text: 'job 1 failed' }));
    expect(existsSync(file)).toBe(false);
    expect(printed).toEqual([
      expect.objectContaining({ level: 'INFO', email: { from: 'OctoDB <octodb@localhost>', to: 'ops@example.com', subject: 'Migration failed', text: 'job 1 failed' } }),
    ]);
  });

  it('locally is appended to the outbox file', async () => {
    const file = outbox();
    const notifier = await notifierFor(loadConfig({ OCTODB_OUTBOX_FILE: file }));
    await notifier.send({ to: 'ops@example.com', subject: 's', text: 't' });
    expect(existsSync(file)).toBe(true);
  });
});
