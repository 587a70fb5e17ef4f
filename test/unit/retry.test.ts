import { describe, expect, it } from 'vitest';
import { exponential, retry } from '#core/retry';

/** A sleep that records the waits instead of waiting. */
function recordingSleep() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

describe('retry', () => {
  it.each([
    // [values the tries return, maxAttempts, expected tries made, expected waits]
    [['transient', 'ok'], 3, 2, [100]],
    [['transient', 'transient', 'transient', 'transient'], 3, 3, [100, 200]],
    [['permanent'], 3, 1, []],
    [['transient', 'permanent'], 5, 2, [100]],
    [['transient'], 1, 1, []],
  ] as const)('tries %j with at most %i tries: %i tries, waits %j', async (values, maxAttempts, tries, waits) => {
    const s = recordingSleep();
    const seen: number[] = [];
    const { value, attempt } = await retry(
      async (n) => {
        seen.push(n);
        return values[n - 1]!;
      },
      { retryIf: (v) => v === 'transient', maxAttempts, delayMs: exponential(100), sleep: s.sleep },
    );
    expect(seen).toEqual(Array.from({ length: tries }, (_, i) => i + 1));
    expect(attempt).toBe(tries);
    expect(value).toBe(values[tries - 1]);
    expect(s.waits).toEqual(waits);
  });

  it('numbers tries from a stored counter, so tries a dead worker made still count toward the limit', async () => {
    const s = recordingSleep();
    let stored = 2; // two tries were counted before this worker started
    const { attempt } = await retry(async () => 'transient', {
      nextAttempt: async () => ++stored,
      retryIf: () => true,
      maxAttempts: 3,
      delayMs: exponential(10),
      sleep: s.sleep,
    });
    expect(attempt).toBe(3);
    expect(stored).toBe(3);
    expect(s.waits).toEqual([]);
  });

  it('starts counting at `first` (a cascade child that already had tries)', async () => {
    const seen: number[] = [];
    await retry(async (n) => seen.push(n), { first: 2, retryIf: () => true, maxAttempts: 4, delayMs: () => 0, sleep: async () => {} });
    expect(seen).toEqual([2, 3, 4]);
  });

  it('starts no try after the deadline, however many it may still make', async () => {
    let tries = 0;
    const { value } = await retry(async () => ++tries, { retryIf: () => true, deadline: Date.now() - 1, delayMs: () => 0, sleep: async () => {} });
    expect(value).toBe(1);
  });

  it('ends on a thrown error without another try', async () => {
    let tries = 0;
    const failing = retry(
      async () => {
        tries++;
        throw new Error('lock lost');
      },
      { retryIf: () => true, maxAttempts: 5, delayMs: () => 0, sleep: async () => {} },
    );
    await expect(failing).rejects.toThrow('lock lost');
    expect(tries).toBe(1);
  });
});

describe('exponential', () => {
  it.each([
    [1, 50],
    [2, 100],
    [3, 200],
    [5, 800],
    [6, 1000],
    [30, 1000],
  ])('waits for try %i: %i ms (base 50, cap 1000)', (attempt, ms) => {
    expect(exponential(50, 1000)(attempt)).toBe(ms);
  });
});
