import { ReplyError } from 'ioredis';
import { OUTAGE_MESSAGE, UnavailableError } from '#core/errors';

/**
 * Error codes (a reply's first word, as Redis defines them) of a Redis that is there but cannot
 * serve OctoDB: it refuses the login (AUTH token wrong, rotated or missing), is loading its data,
 * failing over (a replica answering), out of memory or busy with a script. These are outages
 * too, not bugs: what the same call gets past once Redis (or its token) is right again.
 */
const OUTAGE_REPLIES = new Set(['NOAUTH', 'WRONGPASS', 'NOPERM', 'LOADING', 'BUSY', 'MASTERDOWN', 'READONLY', 'OOM', 'CLUSTERDOWN', 'TRYAGAIN']);

const replyCode = (error: Error) => /^[A-Z]+/.exec(error.message)?.[0] ?? '';

/**
 * Redis out of reach (refused, reset, a command or connection timeout, retries spent) or refusing
 * to serve (OUTAGE_REPLIES) is REDIS_UNAVAILABLE: 503 + Retry-After on a route, and LF0 fails
 * rather than refuse a valid token. Any other answer of the server (a wrong type, a script error)
 * is a bug and stays what it is (500).
 */
export function redisUnavailable(error: unknown): unknown {
  if (error instanceof ReplyError && !OUTAGE_REPLIES.has(replyCode(error as Error))) return error;
  return new UnavailableError(OUTAGE_MESSAGE, { code: 'REDIS_UNAVAILABLE' }, { cause: error });
}

/** A Redis call whose failure is typed by redisUnavailable. */
export const typed = <T>(call: Promise<T>): Promise<T> => call.catch((error: unknown) => Promise.reject(redisUnavailable(error)));

/** A pipeline's or transaction's replies, the first error among them typed and thrown (exec() itself never rejects for one). */
export async function execTyped(pipeline: { exec(): Promise<Array<[Error | null, unknown]> | null> }): Promise<unknown[]> {
  const results = (await typed(pipeline.exec())) ?? [];
  const failed = results.find(([error]) => error);
  if (failed) throw redisUnavailable(failed[0]);
  return results.map(([, reply]) => reply);
}
