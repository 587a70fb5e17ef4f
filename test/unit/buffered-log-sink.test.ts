import { describe, expect, it } from 'vitest';
import { BufferedLogSink } from '#adapters/buffered-log-sink';
import type { LogRecord, LogSink } from '#core/ports';
import { waitFor } from '../support/wait.ts';

const rec = (i: number): LogRecord => ({ tenant_id: 't', source: 'query', level: 'INFO', message: `m${i}`, create_timestamp: '2030-01-01T00:00:00.000Z' });

/** A sink that records each hand-over (a batch) it receives. */
function capture(fail = false): LogSink & { batches: string[][] } {
  const batches: string[][] = [];
  return {
    batches,
    async send(records) {
      if (fail) throw new Error('sink down');
      batches.push(records.map((r) => r.message));
    },
  };
}

describe('BufferedLogSink', () => {
  it('answers a send at once and hands the records over in one batch after flushMs', async () => {
    const target = capture();
    const sink = new BufferedLogSink(target, { maxRecords: 100, flushMs: 30 });
    for (let i = 0; i < 5; i++) await sink.send([rec(i)]);
    expect(target.batches).toEqual([]);
    await waitFor(() => target.batches.length > 0, { what: 'the hand-over after flushMs' });
    expect(target.batches).toEqual([['m0', 'm1', 'm2', 'm3', 'm4']]);
  });

  it('hands over everything held on flush, in order, with nothing lost', async () => {
    const target = capture();
    const sink = new BufferedLogSink(target, { maxRecords: 1000, flushMs: 60_000 });
    for (let i = 0; i < 250; i++) void sink.send([rec(i)]);
    await sink.flush();
    expect(target.batches.flat()).toEqual(Array.from({ length: 250 }, (_, i) => `m${i}`));
  });

  it('makes a send wait for a hand-over when full instead of dropping records', async () => {
    const target = capture();
    const sink = new BufferedLogSink(target, { maxRecords: 3, flushMs: 60_000 });
    for (let i = 0; i < 7; i++) await sink.send([rec(i)]);
    expect(target.batches).toEqual([['m0', 'm1', 'm2'], ['m3', 'm4', 'm5']]);
    await sink.flush();
    expect(target.batches.flat()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6']);
  });

  it('survives a sink that refuses records: later records are still handed over', async () => {
    let down = true;
    const target = capture();
    const flaky: LogSink = { send: async (records) => (down ? Promise.reject(new Error('down')) : target.send(records)) };
    const sink = new BufferedLogSink(flaky, { maxRecords: 10, flushMs: 60_000 });
    await sink.send([rec(0)]);
    await expect(sink.flush()).resolves.toBeUndefined();
    down = false;
    await sink.send([rec(1)]);
    await sink.flush();
    expect(target.batches).toEqual([['m1']]);
  });
});
