import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { LocalLogQueue } from '#adapters/local-log-queue';
import type { LogRecord } from '#core/ports';
import { logger } from '#shared/logger';
import { waitFor } from '../support/wait.ts';

const rec = (i: number): LogRecord => ({ tenant_id: 't', source: 's', level: 'INFO', message: `m${i}`, create_timestamp: '2030-01-01T00:00:00.000Z' });
const messagesOf = (e: SQSEvent) => e.Records.map((r) => JSON.parse(r.body).message as string);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'octodb-queue-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshFile = () => join(dir, `dead-letters-${files++}.jsonl`);
const linesOf = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { reason: string; message_id: string; receive_count: number; body: string; at: string });

describe('LocalLogQueue (SQS semantics)', () => {
  it('delivers in batches of at most 10 and deletes what succeeded', async () => {
    const batches: string[][] = [];
    const q = new LocalLogQueue(async (e) => {
      batches.push(messagesOf(e));
    });
    await q.send(Array.from({ length: 35 }, (_, i) => rec(i)));
    await q.idle();
    expect(batches.map((b) => b.length).sort((a, b) => b - a)).toEqual([10, 10, 10, 5]);
    expect(batches.flat().sort()).toEqual(Array.from({ length: 35 }, (_, i) => `m${i}`).sort());
    q.close();
  });

  it('returns only reported failures, after the visibility timeout, counting receives', async () => {
    const receives: { at: number; counts: string[] }[] = [];
    const q = new LocalLogQueue(
      async (e) => {
        receives.push({ at: Date.now(), counts: e.Records.map((r) => r.attributes.ApproximateReceiveCount) });
        const second = e.Records.find((r) => JSON.parse(r.body).message === 'm1');
        return { batchItemFailures: second && second.attributes.ApproximateReceiveCount === '1' ? [{ itemIdentifier: second.messageId }] : [] };
      },
      { visibilityTimeoutMs: 120 },
    );
    await q.send([rec(0), rec(1), rec(2)]);
    await q.idle();
    expect(receives.map((r) => r.counts)).toEqual([['1', '1', '1'], ['2']]);
    expect(receives[1]!.at - receives[0]!.at).toBeGreaterThanOrEqual(110);
    expect(q.deadLetters()).toEqual([]);
    q.close();
  });

  it('moves a message that failed 3 receives to the DLQ; a thrown invocation fails the whole batch', async () => {
    let calls = 0;
    const q = new LocalLogQueue(
      async () => {
        calls++;
        throw new Error('L1 crashed');
      },
      { visibilityTimeoutMs: 5 },
    );
    await q.send([rec(0), rec(1)]);
    await q.idle();
    expect(calls).toBe(3);
    expect(q.deadLetters().map((d) => [JSON.parse(d.body).message, d.receiveCount])).toEqual([
      ['m0', 3],
      ['m1', 3],
    ]);
    q.close();
  });

  it('runs at most `concurrency` batches at once', async () => {
    let running = 0;
    let peak = 0;
    const q = new LocalLogQueue(
      async () => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 5)); // a batch that takes a while, so batches overlap
        running--;
      },
      { concurrency: 3 },
    );
    await q.send(Array.from({ length: 100 }, (_, i) => rec(i)));
    await q.idle();
    expect(peak).toBe(3);
    q.close();
  });

  it('makes a batch visible again when its consumer outlives the visibility timeout', async () => {
    const counts: string[][] = [];
    const q = new LocalLogQueue(
      async (e) => {
        counts.push(e.Records.map((r) => r.attributes.ApproximateReceiveCount));
        if (counts.length === 1) await new Promise(() => {}); // the first invocation hangs for good
      },
      { visibilityTimeoutMs: 50 },
    );
    await q.send([rec(0), rec(1)]);
    await q.idle();
    expect(counts).toEqual([
      ['1', '1'],
      ['2', '2'],
    ]);
    expect(q.failedReceives).toBe(2);
    expect(q.deadLetters()).toEqual([]);
    q.close();
  }, 5000);

  it('holds a slow batch past the visibility timeout until its consumer answers, given a longer time limit', async () => {
    const counts: string[][] = [];
    const q = new LocalLogQueue(
      async (e) => {
        counts.push(e.Records.map((r) => r.attributes.ApproximateReceiveCount));
        await sleep(100); // 10 visibility timeouts passing is the subject
      },
      { visibilityTimeoutMs: 10, consumerTimeoutMs: 30_000 },
    );
    await q.send([rec(0), rec(1)]);
    await q.idle();
    expect(counts).toEqual([['1', '1']]);
    expect(q.failedReceives).toBe(0);
    q.close();
  });

  it('waits longer after each failed receive when given a backoff, still dead-lettering after 3', async () => {
    const at: number[] = [];
    const q = new LocalLogQueue(
      async () => {
        at.push(Date.now());
        throw new Error('DynamoDB down');
      },
      { visibilityTimeoutMs: 20, visibilityBackoff: 5 },
    );
    await q.send([rec(0)]);
    await q.idle();
    expect(at).toHaveLength(3);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(18);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(95); // 20 ms × 5
    expect(q.deadLetters().map((d) => d.receiveCount)).toEqual([3]);
    q.close();
  });

  it('appends dead letters to its file and warns with their count', async () => {
    const file = freshFile();
    const warn = vi.spyOn(logger, 'warn');
    const q = new LocalLogQueue(
      async () => {
        throw new Error('L1 crashed');
      },
      { visibilityTimeoutMs: 5, deadLetterFile: file },
    );
    await q.send([rec(0), rec(1)]);
    await q.idle();
    const lines = linesOf(file);
    expect(lines.map((l) => [l.reason, JSON.parse(l.body).message, l.receive_count])).toEqual([
      ['dead-letter', 'm0', 3],
      ['dead-letter', 'm1', 3],
    ]);
    expect(lines.map((l) => l.message_id)).toEqual(q.deadLetters().map((d) => d.messageId));
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('dead-letter'), expect.objectContaining({ count: 2, file }));
    warn.mockRestore();
    q.close();
  });

  it('saves the backlog not yet consumed to its file on close, and sends it again on the next start', async () => {
    const file = freshFile();
    // A consumer that fails everything: the messages wait out a long visibility timeout.
    const down = new LocalLogQueue(async (e) => ({ batchItemFailures: e.Records.map((r) => ({ itemIdentifier: r.messageId })) }), {
      visibilityTimeoutMs: 60_000,
      deadLetterFile: file,
    });
    const idle = down.idle();
    await down.send([rec(0), rec(1), rec(2)]);
    await waitFor(() => down.failedReceives >= 3, { what: 'every message to fail its receive' });
    down.close();
    await idle; // nothing is left waiting: all of it is in the file
    expect(linesOf(file).map((l) => [l.reason, JSON.parse(l.body).message]).sort()).toEqual([
      ['shutdown', 'm0'],
      ['shutdown', 'm1'],
      ['shutdown', 'm2'],
    ]);
    await expect(down.send([rec(3)])).rejects.toThrow('closed');

    const received: string[] = [];
    const next = new LocalLogQueue(async (e) => void received.push(...messagesOf(e)), { deadLetterFile: file });
    expect(next.replaySaved()).toBe(3);
    await next.idle();
    expect(received.sort()).toEqual(['m0', 'm1', 'm2']);
    expect(existsSync(file)).toBe(false); // replayed and stored: nothing left to replay
    expect(existsSync(`${file}.replaying`)).toBe(false);
    expect(next.replaySaved()).toBe(0);
    next.close();
  });

  it('keeps a replayed message that fails again in the file, not lost', async () => {
    const file = freshFile();
    const first = new LocalLogQueue(
      async () => {
        throw new Error('down');
      },
      { visibilityTimeoutMs: 1, deadLetterFile: file },
    );
    await first.send([rec(0)]);
    await first.idle();
    first.close();
    const again = new LocalLogQueue(
      async () => {
        throw new Error('still down');
      },
      { visibilityTimeoutMs: 1, deadLetterFile: file },
    );
    expect(again.replaySaved()).toBe(1);
    await again.idle();
    expect(linesOf(file).map((l) => [l.reason, JSON.parse(l.body).message])).toEqual([['dead-letter', 'm0']]);
    expect(existsSync(`${file}.replaying`)).toBe(false);
    again.close();
  });

  it('keeps dead-lettering, in memory, when its file cannot be written', async () => {
    const blocker = freshFile();
    writeFileSync(blocker, 'a file, not a directory');
    const error = vi.spyOn(logger, 'error');
    const q = new LocalLogQueue(
      async () => {
        throw new Error('down');
      },
      { visibilityTimeoutMs: 1, deadLetterFile: join(blocker, 'dead-letters.jsonl') },
    );
    await q.send([rec(0)]);
    await q.idle();
    expect(q.deadLetters().map((d) => JSON.parse(d.body).message)).toEqual(['m0']);
    expect(error).toHaveBeenCalledWith('could not write the log dead-letter file', expect.anything());
    error.mockRestore();
    q.close();
  }, 5000);
});
