import type { MigrationDeps } from './migration-deps.ts';
import type { JobState, MigrationBatchRecord, MigrationJobRecord } from './ports.ts';

type NotifyDeps = Pick<MigrationDeps, 'meta' | 'batches' | 'notifier' | 'settings'>;

/** Marks a batch finished once all its jobs are, and sends its emails. */
export async function finishBatch(batchId: string, deps: NotifyDeps): Promise<void> {
  if (await deps.batches.finishBatchIfDone(batchId)) await notifyPending(batchId, deps);
}

/**
 * Sends a finished batch's emails and clears their pending mark. A mail outage must not undo a
 * finished migration: the mark stays and the sweep sends them later (for a day; a tenant email
 * already sent before the admin's failed goes out again then).
 */
export async function notifyPending(batchId: string, deps: NotifyDeps): Promise<void> {
  try {
    await notifyBatch((await deps.batches.getBatch(batchId))!, deps);
    await deps.batches.markNotified(batchId);
  } catch {
    // Retried by the sweep; the outcome is in MetaDB and /dashboard meanwhile.
  }
}

async function notifyBatch(batch: MigrationBatchRecord, deps: NotifyDeps): Promise<void> {
  const tenant = await deps.meta.getTenant(batch.tenantId);
  const jobs = await deps.batches.listJobs(batch.batchId);
  const counts = countStates(jobs);
  const summary = Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ');
  const line = (j: MigrationJobRecord) => `- ${batch.kind === 'cascade' ? `db ${j.dbId} ` : ''}${j.table}: ${j.state}${j.statusReason ? ` (${j.statusReason})` : ''}`;
  const shown = batch.kind === 'cascade' ? jobs.filter((j) => j.state !== 'succeeded').slice(0, 100) : jobs;
  if (tenant) {
    await deps.notifier.send({
      to: tenant.email,
      subject: `OctoDB migration ${batch.batchId} finished: ${summary}`,
      text: [
        `Your ${batch.kind === 'cascade' ? 'cascade to child databases' : 'migration'} ${batch.batchId} on database ${batch.dbId} finished: ${summary}.`,
        '',
        ...shown.map(line),
      ].join('\n'),
    });
  }
  const flagged = jobs.filter((j) => j.flagged);
  if (flagged.length > 0 && deps.settings.adminEmail) {
    await deps.notifier.send({
      to: deps.settings.adminEmail,
      subject: `OctoDB: ${flagged.length} migration job(s) failed for good in batch ${batch.batchId}`,
      text: [`These jobs need manual attention (batch ${batch.batchId}, tenant ${batch.tenantId}):`, '', ...flagged.slice(0, 200).map((j) => `- job ${j.jobId} db ${j.dbId} ${j.table}: ${j.statusReason ?? ''}`)].join('\n'),
    });
  }
}

export function countStates(jobs: Array<{ state: JobState }>): Partial<Record<JobState, number>> {
  const counts: Partial<Record<JobState, number>> = {};
  for (const j of jobs) counts[j.state] = (counts[j.state] ?? 0) + 1;
  return counts;
}
