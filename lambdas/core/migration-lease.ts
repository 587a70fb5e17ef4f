import type { MigrationDeps } from './migration-deps.ts';
import type { MigrationJobRecord } from './ports.ts';
import { retry } from './retry.ts';

/** A worker's lock was taken over (it expired unrenewed): the worker must stop before writing. */
export class LockLostError extends Error {
  constructor(name: string) {
    super(`lost the migration lock on ${name}`);
  }
}

/** A database lock this worker holds, and the job it holds it for. */
export interface HeldLock {
  name: string;
  token: string;
  jobId: string;
}

export interface Lease {
  /** Renews the lock now and throws LockLostError unless it still holds our token (fencing). */
  fence(name: string): Promise<void>;
  /** Renews these locks (and touches their jobs' claims) from the next beat on. */
  hold(locks: HeldLock[]): void;
  /** Stops renewing these locks, once a beat under way is over (the caller unlocks them next). */
  release(locks: HeldLock[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The engine's one heartbeat. Keeps locks (Redis) and their jobs' claims (MetaDB) alive while work
 * runs, every third of their TTL, so a long job keeps its database; a lock found lost is never
 * renewed again and its job's claim goes stale (the sweep recovers it). `alsoOnBeat` rides along
 * (a cascade keeps its host's still queued jobs fresh with it).
 */
export function holdLease(
  deps: Pick<MigrationDeps, 'locks' | 'jobs' | 'settings'>,
  initial: HeldLock[],
  alsoOnBeat?: () => Promise<void>,
): Lease {
  const ttl = deps.settings.staleSeconds * 1000;
  let held = [...initial];
  // By token: a database locked again later (a new token) is not the lost one.
  const lost = new Set<string>();
  const renew = async (some: HeldLock[]) => {
    const live = some.filter((l) => !lost.has(l.token));
    const ok = live.length > 0 ? await deps.locks.renewLocks(live, ttl) : [];
    live.forEach((l, i) => ok[i] || lost.add(l.token));
    return live.filter((_, i) => ok[i]);
  };
  let beat: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    // A failed heartbeat (Redis or MetaDB blip) is not a lost lock: fence() decides before a write.
    const locks = async () => deps.jobs.touchJobs((await renew(held)).map((l) => l.jobId));
    beat = beat.then(() => Promise.all([locks().catch(() => undefined), alsoOnBeat?.().catch(() => undefined)]));
  }, Math.max(20, ttl / 3));
  return {
    async fence(name) {
      const ok = await renew(held.filter((l) => l.name === name)).catch(() => []);
      if (ok.length === 0) throw new LockLostError(name);
    },
    hold(locks) {
      held = [...held, ...locks];
    },
    async release(locks) {
      held = held.filter((l) => !locks.includes(l));
      await beat;
    },
    async stop() {
      clearInterval(timer);
      await beat;
    },
  };
}

/**
 * Waits a while (lockWaitSeconds, at most a TTL) for the database; a queued job's claim is touched
 * meanwhile, so the sweep leaves it alone. Giving up leaves it queued for the invoke's retries.
 */
export async function waitForLock(job: MigrationJobRecord, deps: Pick<MigrationDeps, 'locks' | 'jobs' | 'settings' | 'sleep'>): Promise<string | undefined> {
  const ttl = deps.settings.staleSeconds * 1000;
  let touched = 0;
  const { value: token } = await retry(
    async () => {
      if (job.state === 'queued' && Date.now() - touched > ttl / 3) {
        await deps.jobs.touchJobs([job.jobId]);
        touched = Date.now();
      }
      return deps.locks.tryLock(job.dbId, ttl);
    },
    {
      retryIf: (t) => t === undefined,
      deadline: Date.now() + Math.min(ttl, deps.settings.lockWaitSeconds * 1000),
      delayMs: () => 50 + Math.random() * 100, // jitter: waiting workers do not poll in step
      sleep: deps.sleep,
    },
  );
  return token;
}
