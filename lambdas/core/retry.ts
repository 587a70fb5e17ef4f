/** How a loop waits between tries; injectable so tests and benchmarks need not really wait. */
export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** baseMs, 2·baseMs, 4·baseMs, … for tries 1, 2, 3, …, capped at maxMs. */
export const exponential =
  (baseMs: number, maxMs = Number.POSITIVE_INFINITY) =>
  (attempt: number): number =>
    Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));

export interface RetryOptions<T> {
  /** Whether the value of this try asks for another one (e.g. a transient failure). */
  retryIf: (value: T, attempt: number) => boolean;
  /** No try is numbered above this (default: no limit). */
  maxAttempts?: number;
  /** A time (epoch ms) after which no further try starts (default: none). */
  deadline?: number;
  /** The wait after a try that asked for another. */
  delayMs: (attempt: number) => number;
  sleep?: Sleep;
  /**
   * The number of the next try. Defaults to counting from `first` (1); a migration job passes its
   * stored counter instead, so tries a dead worker made still count after it.
   */
  nextAttempt?: () => Promise<number>;
  first?: number;
}

/**
 * Runs `fn` until its value does not ask for a retry, or the tries or the time are used up; the
 * last value is returned with its try's number (the caller decides what a value that still asks
 * for a retry means then). Failures are values here, not exceptions: a thrown error ends the loop.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions<T>): Promise<{ value: T; attempt: number }> {
  const sleep = options.sleep ?? realSleep;
  const max = options.maxAttempts ?? Number.POSITIVE_INFINITY;
  for (let counted = (options.first ?? 1) - 1; ; ) {
    const attempt = options.nextAttempt ? await options.nextAttempt() : ++counted;
    const value = await fn(attempt);
    const outOfTime = options.deadline !== undefined && Date.now() > options.deadline;
    if (!options.retryIf(value, attempt) || attempt >= max || outOfTime) return { value, attempt };
    await sleep(options.delayMs(attempt));
  }
}
