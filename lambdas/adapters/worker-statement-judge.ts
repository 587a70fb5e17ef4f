import { Worker } from 'node:worker_threads';
import { LRUCache } from 'lru-cache';
import { type Share, TimeShare } from './time-share.ts';
import type { JudgeOutcome, JudgeTask, JudgeVerdict, StatementJudge } from '#core/ports';

export interface JudgeLimits {
  /**
   * Wall time one statement may take on a worker: past it the worker stops the check itself; a
   * worker that has not answered STOP_GRACE_MS later is terminated and replaced.
   */
  budgetMs: number;
  /** Worker threads; a tenant uses at most one at a time, so with two a flood never takes them all. */
  workers: number;
  /** Tasks one tenant may have waiting (its running one apart), at least 1; past it: `busy`. */
  perTenantQueue: number;
  /** Longest a task waits for a worker (its tenant past its share, or others' turns); then `busy`. Default: no bound. */
  maxWaitMs?: number;
  /**
   * Workers run at the background nice (background-thread.ts), so a parser attack takes no core
   * from the thread serving every tenant; a check stopped at the budget having had less than half
   * of it on a CPU (it waited for a core) is answered `starved`, not refused.
   */
  yields?: boolean;
  /** Heap of one worker: a statement whose parse needs more ends like one out of time. */
  maxHeapMb?: number;
  /**
   * Worker time one tenant may use: `msPerSecond` on average, `burstMs` at once. Past it the
   * tenant's tasks wait (the worker serves others or idles), so however many costly statements a
   * tenant sends, it holds at most that share of a core, not the whole worker. Default: no cap.
   */
  tenantShare?: Share;
}

/** What a worker is started with. */
export interface JudgeThreadData {
  budgetMs: number;
  yields: boolean;
}

/**
 * Worker → this thread: ready once loaded; per task, the statement being judged (from the second),
 * then the outcome, or the statement it stopped past the budget.
 */
export type JudgeMessage =
  | { ready: true }
  | { id: number; step: number }
  | { id: number; outcome: JudgeOutcome }
  | { id: number; overBudget: number }
  | { id: number; starved: number }
  | { id: number; error: string };

interface Task {
  id: number;
  tenantId: string;
  task: JudgeTask;
  step: number;
  /** When a worker took it (performance.now()). */
  startedAt?: number;
  /** Gives the task up if it still waits at `maxWaitMs`. */
  timer?: NodeJS.Timeout;
  resolve(verdict: JudgeVerdict): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  running?: Task;
  timer?: NodeJS.Timeout;
  /** The tenant whose statement killed this slot's last worker: its turn ends when the replacement is ready. */
  heldBy?: string;
  /** When the replacement was started: its start-up is that tenant's use of worker time too. */
  startedAt?: number;
}

/** At most this many tasks wait in all; each tenant's own bound comes first. */
const MAX_WAITING = 1000;
/**
 * A worker stops a check past its budget itself, at once; one still silent this much later is stuck
 * where V8 cannot stop it (native code) and is terminated. A yielding worker may wait this long
 * for a core on a loaded host before it can answer.
 */
const STOP_GRACE_MS = 1000;

/**
 * StatementJudge on worker threads (worker_threads), so that a parse never blocks the event loop
 * serving every tenant and can be stopped: a worker stops a check past its budget itself (vm's
 * timeout); one that does not, or runs out of memory, is terminated and a fresh one started.
 * Fair share: one running task per tenant; of the tenants waiting, the one served longest ago goes
 * first; a tenant whose statement killed a worker waits for its replacement; with a tenant share,
 * a tenant past its share of worker time waits even when the worker is idle, and a replacement's
 * start-up (loading the parser: more CPU than the budget) counts as its use.
 */
export class WorkerStatementJudge implements StatementJudge {
  private readonly slots: Slot[] = [];
  /** Waiting tasks per tenant. */
  private readonly waiting = new Map<string, Task[]>();
  /** Tenants with a running task, or whose last task is still being paid for (its worker's replacement). */
  private readonly active = new Set<string>();
  /** When each tenant last started a task: the one served longest ago (or never) goes next. */
  private readonly lastServed = new LRUCache<string, number>({ max: 10_000 });
  /** With a tenant share: each tenant's use of worker time (TimeShare: a generic cell rate algorithm). */
  private readonly shares = new LRUCache<string, TimeShare>({ max: 10_000 });
  private wakeUp?: NodeJS.Timeout;
  private served = 0;
  private nextId = 0;
  private waitingCount = 0;
  /** Tasks handed to a worker, stopped past the budget (too costly), stopped there having waited for a core (starved), workers started: what tests and benchmarks observe. */
  readonly counters = { judged: 0, overBudget: 0, starved: 0, workersStarted: 0 };

  constructor(
    private readonly script: URL,
    private readonly limits: JudgeLimits,
  ) {}

  /** Starts the workers now (a long-running process): the first statement then pays no worker start-up. */
  warm(): void {
    while (this.slots.length < this.limits.workers) this.slots.push(this.spawn());
  }

  judge(tenantId: string, task: JudgeTask): Promise<JudgeVerdict> {
    this.warm();
    const queue = this.waiting.get(tenantId) ?? [];
    if (queue.length >= this.limits.perTenantQueue || this.waitingCount >= MAX_WAITING) return Promise.resolve({ kind: 'busy' });
    return new Promise((resolve, reject) => {
      const waiting: Task = { id: this.nextId++, tenantId, task, step: 1, resolve, reject };
      const { maxWaitMs } = this.limits;
      if (maxWaitMs !== undefined) waiting.timer = setTimeout(() => this.giveUp(waiting), maxWaitMs).unref();
      queue.push(waiting);
      this.waiting.set(tenantId, queue);
      this.waitingCount++;
      this.pump();
    });
  }

  /** A task that waited `maxWaitMs` and still waits is answered `busy`, so its request settles. */
  private giveUp(task: Task): void {
    const queue = this.waiting.get(task.tenantId);
    const at = queue?.indexOf(task) ?? -1;
    if (at < 0) return;
    queue!.splice(at, 1);
    if (queue!.length === 0) this.waiting.delete(task.tenantId);
    this.waitingCount--;
    task.resolve({ kind: 'busy' });
  }

  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    for (const slot of slots) clearTimeout(slot.timer);
    const stopped = new Error('statement judge closed');
    for (const slot of slots) slot.running?.reject(stopped);
    for (const queue of this.waiting.values()) for (const task of queue) task.reject(stopped);
    this.waiting.clear();
    this.waitingCount = 0;
    this.active.clear();
    clearTimeout(this.wakeUp);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** Hands waiting tasks to idle workers, each tenant in turn. */
  private pump(): void {
    for (const slot of this.slots) {
      if (!slot.ready || slot.running) continue;
      const task = this.nextTask();
      if (!task) return;
      this.start(slot, task);
    }
  }

  private nextTask(): Task | undefined {
    let next: { tenantId: string; queue: Task[]; at: number } | undefined;
    let soonest = Infinity;
    for (const [tenantId, queue] of this.waiting) {
      if (this.active.has(tenantId)) continue;
      const waitMs = this.overShareMs(tenantId);
      if (waitMs > 0) {
        soonest = Math.min(soonest, waitMs);
        continue;
      }
      const at = this.lastServed.get(tenantId) ?? -1;
      if (!next || at < next.at) next = { tenantId, queue, at };
    }
    if (!next) {
      if (soonest < Infinity) this.wakeIn(soonest);
      return undefined;
    }
    this.lastServed.set(next.tenantId, this.served++);
    this.waitingCount--;
    if (next.queue.length === 1) this.waiting.delete(next.tenantId);
    const task = next.queue.shift()!;
    clearTimeout(task.timer);
    return task;
  }

  /** How long until the tenant is back within its share (0: it may start a task now). */
  private overShareMs(tenantId: string): number {
    return this.shares.get(tenantId)?.owedMs() ?? 0;
  }

  /** The tenant used worker time since `since` (a task's start, or a replacement's). */
  private charge(tenantId: string, since: number | undefined): void {
    const share = this.limits.tenantShare;
    if (!share || since === undefined) return;
    let used = this.shares.get(tenantId);
    if (!used) this.shares.set(tenantId, (used = new TimeShare(share, () => performance.now())));
    used.charge(performance.now() - since);
  }

  private wakeIn(ms: number): void {
    clearTimeout(this.wakeUp);
    this.wakeUp = setTimeout(() => {
      this.wakeUp = undefined;
      this.pump();
    }, Math.ceil(ms));
    this.wakeUp.unref();
  }

  private start(slot: Slot, task: Task): void {
    this.active.add(task.tenantId);
    task.startedAt = performance.now();
    slot.running = task;
    this.counters.judged++;
    slot.worker.postMessage({ id: task.id, task: task.task });
    this.arm(slot);
  }

  private arm(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => this.stop(slot), this.limits.budgetMs + STOP_GRACE_MS);
  }

  private finish(slot: Slot): Task | undefined {
    const task = slot.running;
    clearTimeout(slot.timer);
    slot.running = undefined;
    if (task) this.active.delete(task.tenantId);
    return task;
  }

  /** A worker stuck past the budget (or out of memory): refuse the task, replace the worker, keep the tenant's turn until it is. */
  private stop(slot: Slot): void {
    const task = this.finish(slot);
    const at = this.slots.indexOf(slot);
    if (at < 0) return;
    void slot.worker.terminate();
    // The refusal first: starting a worker costs this thread a few milliseconds.
    if (task) {
      this.charge(task.tenantId, task.startedAt);
      this.counters.overBudget++;
      this.active.add(task.tenantId);
      task.resolve({ kind: 'over-budget', step: task.step });
    }
    const fresh = this.spawn();
    fresh.heldBy = task?.tenantId;
    fresh.startedAt = performance.now();
    this.slots[at] = fresh;
    this.pump();
  }

  private spawn(): Slot {
    const workerData: JudgeThreadData = { budgetMs: this.limits.budgetMs, yields: this.limits.yields ?? false };
    const worker = new Worker(this.script, { workerData, resourceLimits: { maxOldGenerationSizeMb: this.limits.maxHeapMb ?? 128 } });
    worker.unref(); // an idle judge must not keep the process alive
    this.counters.workersStarted++;
    const slot: Slot = { worker, ready: false };
    worker.on('message', (message: JudgeMessage) => this.hear(slot, message));
    const died = (error: Error) => {
      const at = this.slots.indexOf(slot);
      if (at < 0) return; // terminated by stop() or close()
      if (slot.ready) return this.stop(slot); // out of memory, or crashed: the statement's doing
      // A worker that cannot even load: dropped (the next call starts another); with none left, the waiting fail (500).
      this.slots.splice(at, 1);
      if (slot.heldBy !== undefined) this.active.delete(slot.heldBy);
      if (this.slots.length > 0) return this.pump();
      for (const queue of this.waiting.values()) for (const task of queue) task.reject(error);
      this.waiting.clear();
      this.waitingCount = 0;
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`statement judge worker exited with code ${code}`)));
    return slot;
  }

  private hear(slot: Slot, message: JudgeMessage): void {
    if ('ready' in message) {
      slot.ready = true;
      if (slot.heldBy !== undefined) {
        this.active.delete(slot.heldBy);
        this.charge(slot.heldBy, slot.startedAt);
      }
      slot.heldBy = undefined;
      return this.pump();
    }
    if (slot.running?.id !== message.id) return;
    if ('step' in message) {
      // Each statement has its own budget; the first one's started when the task was posted.
      if (message.step === slot.running.step) return;
      slot.running.step = message.step;
      return this.arm(slot);
    }
    const task = this.finish(slot)!;
    this.charge(task.tenantId, task.startedAt);
    if ('error' in message) task.reject(new Error(`statement judge failed: ${message.error}`));
    else if ('overBudget' in message) {
      this.counters.overBudget++;
      task.resolve({ kind: 'over-budget', step: message.overBudget });
    } else if ('starved' in message) {
      this.counters.starved++;
      task.resolve({ kind: 'starved' });
    } else task.resolve(message.outcome);
    this.pump();
  }
}
