import { setPriority } from 'node:os';

/**
 * The nice value of a worker thread whose work no tenant's statement waits on: hashing passwords
 * (the costliest thing an unauthenticated request asks for) and, locally, the stand-ins for what
 * runs elsewhere on AWS (L1 and DynamoDB). Linux keeps nice per thread, so only the calling thread
 * yields: against the thread that serves every tenant it gets about a tenth of a core when both
 * want one. Not the statement judge, whose budget is wall-clock time.
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
