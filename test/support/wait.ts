/**
 * Waits until `condition` gives a truthy value and returns it; fails after `timeoutMs` naming
 * what it waited for. For a test waiting on a state (a job finished, a worker busy, a receive
 * failed): it moves on the moment the state is reached, and a state never reached is an error,
 * not a slow pass. A test whose subject is time passing (a TTL, a window) sleeps instead, and
 * says so.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 30_000, intervalMs = 10, what = 'the condition' }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<Exclude<T, false | 0 | '' | null | undefined>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as Exclude<T, false | 0 | '' | null | undefined>;
    if (Date.now() >= deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
