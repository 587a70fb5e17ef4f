import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { LocalLogQueue } from '#adapters/local-log-queue';
import type { LogRecord } from '#core/ports';

const rec = (i: number): LogRecord => ({ tenant_id: 't', source: 's', level: 'INFO', message: `m${i}`, create_timestamp: '2030-01-01T00:00:00.000Z' });
const messagesOf = (e: SQSEvent) => e.Records.map((r) => JSON.parse(r.body).message as string);

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
        await new Promise((r) => setTimeout(r, 5));
        running--;
      },
      { concurrency: 3 },
    );
    await q.send(Array.from({ length: 100 }, (_, i) => rec(i)));
    await q.idle();
    expect(peak).toBe(3);
    q.close();
  });
});
