import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * The nice value of a worker thread that must not take a core from the thread serving every
 * tenant: hashing passwords (the costliest thing an unauthenticated request asks for), judging
 * statements (what a parser attack costs), and, locally, the stand-ins for what runs elsewhere on
 * AWS (L1 and DynamoDB). Linux keeps nice per thread, so only the calling thread yields: against
 * the serving thread it gets about a tenth of a core when both want one.
 */
export const BACKGROUND_NICE = 10;

/** Called on the worker thread itself (Node gives no thread id to set it from outside). */
export function yieldToRequests(): void {
  try {
    setPriority(BACKGROUND_NICE);
  } catch {
    // Refused (a process already nicer than this): the thread keeps the process's priority.
  }
}

/**
 * The calling thread's time on a CPU so far, in ms (Linux's schedstat, in nanoseconds); undefined
 * where it cannot be read, and the wall clock is all there is.
 */
export function threadCpuMs(): number | undefined {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ', 1)[0]) / 1e6;
  } catch {
    return undefined;
  }
}
