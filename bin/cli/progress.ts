import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Context, DashboardAnswer } from './context.ts';
import { CliError, EXIT, isTransient } from './exit.ts';
import { fields, note, print, printJson, table } from './output.ts';
import { sleep } from './wait.ts';

type Status = DashboardAnswer<'get_migration_status'>;
/** get_migration_status of a batch (the other shape is one job's). */
export type BatchStatus = Extract<Status, { kind: string }>;
type Counts = BatchStatus['counts'];

const POLL_MS = 500;
const TERMINAL = ['succeeded', 'failed', 'skipped'] as const;

const doneOf = (counts: Counts): number => TERMINAL.reduce((n, state) => n + (counts[state] ?? 0), 0);
const totalOf = (counts: Counts): number => Object.values(counts).reduce((n, c) => n + (c ?? 0), 0);
/** `2 succeeded, 1 failed` */
const statesOf = (counts: Counts): string =>
  Object.entries(counts)
    .map(([state, n]) => `${n} ${state}`)
    .join(', ');

/** A batch is done when it is finished and so is every cascade its jobs started (queued before the batch finishes). */
const finished = (status: BatchStatus): boolean => status.finished_at !== null && status.jobs.every((job) => !job.cascade || job.cascade.finished_at !== null);

/**
 * Polls a batch until it and its cascades are done, drawing one bar for its jobs and one per
 * cascade (its children) on a terminal, or a line per change on a non-terminal stderr; nothing
 * with --json. Gives up with TIMEOUT (the work goes on on the server).
 */
export async function watchBatch(ctx: Context, batchId: string, timeoutSeconds: number): Promise<BatchStatus> {
  const multi = ctx.json || !process.stderr.isTTY ? undefined : new MultiBar({ stream: process.stderr, format: ' {bar} {value}/{total} {label} {states}', hideCursor: true }, Presets.shades_classic);
  const bars = new Map<string, SingleBar>();
  const lines = new Map<string, string>();
  const deadline = Date.now() + timeoutSeconds * 1000;
  try {
    for (;;) {
      const status = await pollBatch(ctx, batchId);
      if (status) {
        const rows = [
          { key: batchId, label: status.kind === 'cascade' ? 'children' : 'jobs', counts: status.counts, total: status.total },
          ...status.jobs.flatMap((job) => (job.cascade ? [{ key: job.job_id, label: `cascade of ${job.table}`, counts: job.cascade.counts, total: totalOf(job.cascade.counts) }] : [])),
        ];
        for (const row of rows) {
          const payload = { label: row.label, states: statesOf(row.counts) };
          const bar = bars.get(row.key);
          if (multi) {
            if (!bar) bars.set(row.key, multi.create(row.total, doneOf(row.counts), payload));
            else {
              bar.setTotal(row.total);
              bar.update(doneOf(row.counts), payload);
            }
          } else if (!ctx.json) {
            const line = `${row.label}: ${doneOf(row.counts)}/${row.total} done (${payload.states})`;
            if (lines.get(row.key) !== line) note(line);
            lines.set(row.key, line);
          }
        }
        if (finished(status)) return status;
      }
      if (Date.now() > deadline) {
        throw new CliError(`Batch ${batchId} is still running after ${timeoutSeconds} s: follow it with \`octodb migrations status ${batchId} --wait\``, 'TIMEOUT');
      }
      await sleep(POLL_MS);
    }
  } finally {
    multi?.stop();
  }
}

/** One poll; a moment of unavailability (503, 429, no answer) is waited out like any other poll. */
async function pollBatch(ctx: Context, batchId: string): Promise<BatchStatus | undefined> {
  try {
    return (await ctx.dashboard('get_migration_status', { batch_id: batchId })) as BatchStatus;
  } catch (error) {
    if (isTransient(error)) return undefined;
    throw error;
  }
}

/** A batch for a person (its jobs; a cascade's children that did not succeed), or the API answer with --json. */
export function printBatch(ctx: Context, status: BatchStatus): void {
  if (ctx.json) return printJson(status);
  print(fields({ batch_id: status.batch_id, kind: status.kind, db_id: status.db_id, created_at: status.created_at, finished_at: status.finished_at, jobs: `${status.total}: ${statesOf(status.counts)}` }));
  if (status.kind === 'cascade') {
    const unsuccessful = status.jobs.filter((job) => job.state !== 'succeeded');
    if (unsuccessful.length > 0) print(table(unsuccessful, ['db_id', 'table', 'state', 'status_reason']));
  } else {
    const rows = status.jobs.map((job) => ({ ...job, cascade: job.cascade ? `${doneOf(job.cascade.counts)}/${totalOf(job.cascade.counts)} done: ${statesOf(job.cascade.counts)}` : '' }));
    print(table(rows, ['job_id', 'table', 'state', 'attempts', 'status_reason', 'cascade']));
  }
  if (status.jobs_truncated) note(`(${status.jobs.length} of ${status.total} jobs listed)`);
}

/** FAILED when a job of the batch or a child of its cascades failed. */
export const outcomeOf = (status: BatchStatus): number =>
  (status.counts.failed ?? 0) > 0 || status.jobs.some((job) => (job.cascade?.counts.failed ?? 0) > 0) ? EXIT.FAILED : EXIT.OK;
