import { useEffect, useState } from 'preact/hooks';
import { describe } from './api.ts';

export interface Polled<T> {
  data: T | undefined;
  error: string | undefined;
  /** Loads again now (and polls again if it had stopped). */
  reload(): void;
}

/**
 * Loads, then loads again every `intervalMs` until `done(data)` says the thing stopped moving
 * (a database out of provisioning, a batch finished). One request at a time: the next waits for
 * the last answer, so a slow API is never stacked with requests.
 */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, done: (data: T) => boolean, deps: unknown[]): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [round, setRound] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      let finished = false;
      try {
        const next = await load();
        if (stopped) return;
        setData(next);
        setError(undefined);
        finished = done(next);
      } catch (e) {
        if (stopped) return;
        setError(describe(e));
      }
      if (!finished && intervalMs > 0) timer = setTimeout(tick, intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [...deps, round]);
  return { data, error, reload: () => setRound((r) => r + 1) };
}
