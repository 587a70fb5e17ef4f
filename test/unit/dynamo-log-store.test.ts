import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoLogStore } from '#adapters/dynamo-log-store';
import type { StoredLog } from '#core/ports';

const record = (n: number): StoredLog => ({
  tenant_id: 't1',
  source: 'provision',
  level: 'INFO',
  message: `line ${n}`,
  create_timestamp: '2026-01-01T00:00:00.000Z',
  log_id: `log-${n}`,
});

/**
 * DynamoDB's BatchWriteItem (the AWS API) answering with UnprocessedItems: each call leaves the
 * items of `unprocessed[call]` (by log_id) unwritten. The table itself is covered by
 * test/integration/log-pipeline.test.ts against dynalite, which never leaves items unprocessed.
 */
function fakeDoc(unprocessed: string[][]) {
  const calls: string[][] = [];
  const doc = {
    send: async (command: { input: { RequestItems: Record<string, Array<{ PutRequest: { Item: StoredLog } }>> } }) => {
      const puts = command.input.RequestItems.logs!;
      calls.push(puts.map((p) => p.PutRequest.Item.log_id));
      const left = unprocessed[calls.length - 1] ?? [];
      return { UnprocessedItems: { logs: puts.filter((p) => left.includes(p.PutRequest.Item.log_id)) } };
    },
  } as unknown as DynamoDBDocumentClient;
  return { doc, calls };
}

describe('DynamoLogStore writes', () => {
  it('sends again only the items DynamoDB left unprocessed, until it takes them', async () => {
    const { doc, calls } = fakeDoc([['log-2', 'log-3'], ['log-3']]);
    const store = new DynamoLogStore(doc, 'logs', { unprocessedRetryDelaysMs: [1, 1, 1] });
    await expect(Promise.all([1, 2, 3].map((n) => store.put(record(n))))).resolves.toHaveLength(3);
    expect(calls).toEqual([['log-1', 'log-2', 'log-3'], ['log-2', 'log-3'], ['log-3']]);
  });

  it('fails the puts of items still unprocessed after its retries, and only those', async () => {
    const { doc, calls } = fakeDoc([['log-2'], ['log-2'], ['log-2']]);
    const store = new DynamoLogStore(doc, 'logs', { unprocessedRetryDelaysMs: [1, 1] });
    const [first, second] = await Promise.allSettled([store.put(record(1)), store.put(record(2))]);
    expect(first.status).toBe('fulfilled');
    expect(second).toMatchObject({ status: 'rejected', reason: { message: 'log table did not accept the write' } });
    expect(calls).toEqual([['log-1', 'log-2'], ['log-2'], ['log-2']]);
  });
});
