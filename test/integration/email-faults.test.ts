import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALARM } from '#shared/logger';
import { printedBy } from '../support/logged.ts';
import { type MailgunCapture, startMailgunCapture } from '../support/mailgun-capture.ts';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

// Issue 11, finding 7: an email that cannot be sent is said so (cause, never the text or the
// whole address) and counted; one given up after its retention is said so too.
const work = mkdtempSync(join(tmpdir(), 'octodb-email-faults-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const ITEMS = 'CREATE TABLE items (id int NOT NULL, PRIMARY KEY (id));';
const notSent = (lines: Record<string, unknown>[]) => lines.filter((l) => l.level === 'ERROR' && l.alarm === ALARM.emailNotSent);

/** A tenant's /migrate batch, run to its end (its email is sent, or not, as the batch closes). */
async function finishedBatch(octo: TestOctoDb): Promise<{ batchId: string; email: string }> {
  const tenant = await octo.signUp();
  await octo.waitForDatabase(tenant.db_id);
  const token = await octo.token(tenant.email, tenant.password);
  const submitted = await octo.post<{ batch_id: string }>('/migrate', { sql: ITEMS }, token);
  expect(submitted.status).toBe(202);
  await waitFor(
    async () => {
      const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT finished_at FROM \`${octo.metaDb}\`.migration_batches WHERE batch_id = ?`, [submitted.body.batch_id]);
      return rows[0]?.finished_at;
    },
    { timeoutMs: 60_000, intervalMs: 100, what: 'the batch to finish' },
  );
  await octo.invoker.idle();
  return { batchId: submitted.body.batch_id, email: tenant.email };
}

describe.skipIf(!serversUp)('email faults (issue 11, finding 7)', () => {
  let mailgun: MailgunCapture;
  let octo: TestOctoDb;
  beforeAll(async () => {
    mailgun = await startMailgunCapture();
    octo = await startTestOctoDb({ OCTODB_MAILGUN_API_KEY: 'key-test-123', OCTODB_MAILGUN_DOMAIN: 'mg.example.com', OCTODB_MAILGUN_URL: mailgun.url });
  });
  afterAll(async () => {
    await octo?.close();
    await mailgun?.close();
  });

  it("logs and counts a batch email Mailgun refuses, with Mailgun's answer and without the address or text", async () => {
    const notifier = await octo.parts.get('notifier');
    const before = notifier.failures;
    mailgun.refusing = 1;
    let sent: { batchId: string; email: string } | undefined;
    const lines = await printedBy(async () => {
      sent = await finishedBatch(octo);
    });
    expect(mailgun.refusing).toBe(0); // the send was made, and refused
    expect(notifier.failures).toBe(before + 1);
    const [line] = notSent(lines);
    expect(line).toMatchObject({ via: 'mailgun', status: 400, recipient_domain: 'example.com', subject: expect.stringContaining(sent!.batchId) });
    expect(JSON.stringify(line)).toMatch(/account disabled/);
    expect(JSON.stringify(line)).not.toContain(sent!.email);
    expect(JSON.stringify(line)).not.toContain('finished:\\n'); // the email's text
  });

  it('says once that emails still unsent a day after their batch finished are given up', async () => {
    mailgun.outage = 1_000; // Mailgun down for good
    const { batchId } = await finishedBatch(octo);
    await octo.admin.query(`UPDATE \`${octo.metaDb}\`.migration_batches SET finished_at = NOW(3) - INTERVAL 25 HOUR WHERE batch_id = ?`, [batchId]);
    const lines = await printedBy(async () => {
      for (let i = 0; i < 2; i++) {
        await octo.invoker.invokeAsync('migrate-run', { sweep: true });
        await octo.invoker.idle();
      }
    });
    mailgun.outage = 0;
    const dropped = lines.filter((l) => l.alarm === ALARM.emailDropped);
    expect(dropped).toEqual([expect.objectContaining({ level: 'ERROR', batch_ids: [batchId] })]);
    const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT notify_pending FROM \`${octo.metaDb}\`.migration_batches WHERE batch_id = ?`, [batchId]);
    expect(rows[0]!.notify_pending).toBe(0);
  });
});

describe.skipIf(!serversUp)('an outbox that cannot be written (issue 11, finding 7)', () => {
  it('logs and counts the email, with the cause', async () => {
    const notADirectory = join(work, 'a-file');
    writeFileSync(notADirectory, '');
    const octo = await startTestOctoDb({ OCTODB_OUTBOX_FILE: join(notADirectory, 'outbox.jsonl') });
    try {
      const lines = await printedBy(async () => void (await finishedBatch(octo)));
      expect((await octo.parts.get('notifier')).failures).toBe(1);
      expect(notSent(lines)).toEqual([expect.objectContaining({ via: 'outbox', error: expect.objectContaining({ code: expect.stringMatching(/^E(EXIST|NOTDIR)$/) }) })]);
    } finally {
      await octo.close();
    }
  });
});
