import { SendMessageBatchCommand, type SendMessageBatchCommandOutput } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { chunkBodies, SqsLogSink } from '#adapters/sqs-log-sink';
import { UnavailableError } from '#core/errors';
import type { LogRecord } from '#core/ports';
import { MAX_LOG_MESSAGE_BYTES } from '#shared/log-messages';

// SQS cannot run here: a stand-in client records every command and answers from a script.
function fakeSqs(answers: ((input: SendMessageBatchCommand['input']) => Partial<SendMessageBatchCommandOutput>)[]) {
  const calls: SendMessageBatchCommand['input'][] = [];
  const client = {
    async send(command: unknown) {
      if (!(command instanceof SendMessageBatchCommand)) throw new Error('unexpected command');
      calls.push(structuredClone(command.input));
      const answer = answers[calls.length - 1] ?? (() => ({ Successful: [], Failed: [] }));
      return answer(command.input);
    },
  };
  return { client: client as never, calls };
}

const QUEUE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/octodb-logs';
const rec = (i: number, message = `line ${i}`): LogRecord => ({
  tenant_id: 't1',
  source: 'provision',
  level: 'INFO',
  message,
  create_timestamp: '2030-01-01T00:00:00.000Z',
});

describe('SqsLogSink', () => {
  it('sends 23 records as SendMessageBatch calls of 10, 10 and 3 with stamped bodies', async () => {
    const { client, calls } = fakeSqs([]);
    await new SqsLogSink(client, QUEUE, []).send(Array.from({ length: 23 }, (_, i) => rec(i)));
    expect(calls.map((c) => c.Entries!.length)).toEqual([10, 10, 3]);
    expect(calls.every((c) => c.QueueUrl === QUEUE)).toBe(true);
    const bodies = calls.flatMap((c) => c.Entries!.map((e) => JSON.parse(e.MessageBody!)));
    expect(bodies.map((b) => b.message)).toEqual(Array.from({ length: 23 }, (_, i) => `line ${i}`));
    expect(new Set(bodies.map((b) => b.log_id)).size).toBe(23);
    expect(calls[0]!.Entries!.map((e) => e.Id)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('re-sends only the entries SQS failed through no fault of the sender, with the same body', async () => {
    const { client, calls } = fakeSqs([
      () => ({ Failed: [{ Id: '1', SenderFault: false, Code: 'InternalError' }, { Id: '3', SenderFault: false, Code: 'ServiceUnavailable' }] }),
      () => ({ Failed: [] }),
    ]);
    await new SqsLogSink(client, QUEUE, [1]).send(Array.from({ length: 5 }, (_, i) => rec(i)));
    expect(calls).toHaveLength(2);
    expect(calls[1]!.Entries).toEqual([calls[0]!.Entries![1], calls[0]!.Entries![3]]);
  });

  it('throws after the retries when entries keep failing, and at once for sender faults', async () => {
    const alwaysFail = () => ({ Failed: [{ Id: '0', SenderFault: false, Code: 'InternalError' }] });
    const retried = fakeSqs([alwaysFail, alwaysFail, alwaysFail]);
    await expect(new SqsLogSink(retried.client, QUEUE, [1, 1]).send([rec(0)])).rejects.toBeInstanceOf(UnavailableError);
    expect(retried.calls).toHaveLength(3);

    const sender = fakeSqs([() => ({ Failed: [{ Id: '0', SenderFault: true, Code: 'InvalidMessageContents' }] })]);
    await expect(new SqsLogSink(sender.client, QUEUE, [1, 1]).send([rec(0), rec(1)])).rejects.toThrow(/refused 1 record/);
    expect(sender.calls).toHaveLength(1);
  });

  it('retries a whole batch when the call itself fails', async () => {
    const { client, calls } = fakeSqs([
      () => {
        throw new Error('socket hang up');
      },
      () => ({ Failed: [] }),
    ]);
    await new SqsLogSink(client, QUEUE, [1]).send([rec(0), rec(1)]);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual(calls[0]);
  });

  it('keeps every message and every call under 256 KB', async () => {
    const { client, calls } = fakeSqs([]);
    const big = 'x'.repeat(100_000);
    await new SqsLogSink(client, QUEUE, []).send([rec(0, big), rec(1, big), rec(2, big), rec(3, 'y'.repeat(600_000)), rec(4)]);
    for (const call of calls) {
      const sizes = call.Entries!.map((e) => Buffer.byteLength(e.MessageBody!));
      expect(sizes.every((s) => s <= MAX_LOG_MESSAGE_BYTES)).toBe(true);
      expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(MAX_LOG_MESSAGE_BYTES);
    }
    expect(calls.flatMap((c) => c.Entries!)).toHaveLength(5);
    expect(calls.length).toBeGreaterThanOrEqual(3);
  });

  it('chunkBodies never makes an empty chunk and keeps order', () => {
    const bodies = Array.from({ length: 25 }, (_, i) => String(i));
    expect(chunkBodies(bodies).flat()).toEqual(bodies);
    expect(chunkBodies([])).toEqual([]);
  });
});
