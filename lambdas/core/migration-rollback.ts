import type { MigrationDeps } from './migration-deps.ts';
import { auditor } from './migration-log.ts';
import type { MigrationJobRecord } from './ports.ts';
import { normalizeDefinition, sameDefinition, skeemaStep, type ScriptRun } from './skeema.ts';

type Fence = () => Promise<void>;

export type Rollback = 'restored' | 'not-ours' | 'failed';
export const ROLLBACK_NOTE: Record<Rollback, string> = {
  restored: 'the table was restored from its backup',
  'not-ours': "not rolled back: the table was changed by another migration after this job's backup",
  failed: 'rollback failed, needs manual attention',
};

/**
 * Restores the backup only over this job's own change, then verifies it (diff clean). The table
 * is left alone when someone else changed it after the backup (a later job): pushing the backup
 * with allow-unsafe would drop their columns and rows. Its own change: the table as one of this
 * run's pushes left it, or as the job's desired definition (a push of an attempt whose worker died).
 */
export async function rollback(job: MigrationJobRecord, before: string, attempt: number, deps: MigrationDeps, run: ScriptRun, fence: Fence, pushed: string[]): Promise<Rollback> {
  const started = new Date();
  const audit = (ok: boolean, detail: string) => auditor(job.jobId, deps)('rollback', attempt, started, ok ? 'ok' : 'failed', detail);
  const definition = before === '' ? null : before;
  const isBefore = (s: { ok: boolean; definition: string | null }) => s.ok && normalizeDefinition(s.definition ?? '') === normalizeDefinition(before);
  const now = await skeemaStep(run, 'rollback', job, definition, 'diff', false, deps.settings);
  if (isBefore(now)) return audit(true, 'table unchanged').then(() => 'restored');
  const current = now.definition;
  if (current === null) return audit(false, now.ok ? 'definition differs from the backup' : now.reason).then(() => 'failed');
  if (!pushed.some((p) => normalizeDefinition(p) === normalizeDefinition(current))) {
    const desired = await skeemaStep(run, 'rollback', job, job.desiredSql, 'diff', false, deps.settings);
    if (!desired.ok || desired.definition === null || !sameDefinition(desired.definition, desired.desired)) {
      return audit(false, `${ROLLBACK_NOTE['not-ours']}:\n${current}`).then(() => 'not-ours');
    }
  }
  await fence();
  const push = await skeemaStep(run, 'rollback', job, definition, 'push', true, deps.settings);
  const diff = push.ok ? await skeemaStep(run, 'rollback', job, definition, 'diff', false, deps.settings) : push;
  const ok = isBefore(diff);
  await audit(ok, ok ? (push.ok && push.output) || 'table unchanged' : diff.ok ? 'definition differs from the backup' : diff.reason);
  return ok ? 'restored' : 'failed';
}
